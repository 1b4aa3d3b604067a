"""The licence header that near dedup ignores in code, and only that."""

from __future__ import annotations

from pipeline.dedup.code_body import code_body

PY = '''#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright 2020 The Authors.
# Licensed under the Apache License, Version 2.0

"""pygments.lexers.python
    :copyright: Copyright 2006-2022 by the Pygments team, see AUTHORS.
    :license: BSD, see LICENSE for details.
"""
import re
'''


def test_python_header_comments_and_licence_docstring_are_removed():
    assert code_body(PY) == "import re\n"


def test_c_block_and_line_comments_are_removed():
    assert code_body("/*\n * (c) 2001 X\n */\n// SPDX-License-Identifier: MIT\nint x;\n") == \
        "int x;\n"


def test_an_ordinary_docstring_and_later_comments_stay():
    text = '"""Parse configuration files."""\n# helper\nx = 1  # licence\n'
    assert code_body(text) == text
    assert code_body("x = 1\n# Copyright at the end\n") == "x = 1\n# Copyright at the end\n"


def test_a_file_of_only_a_header_has_no_body():
    assert code_body("# Copyright 2020 X\n# Licensed under MIT\n") == ""
