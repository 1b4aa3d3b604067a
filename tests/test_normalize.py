"""Normalisation: each step on crafted input, and idempotence as a property over any string."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline import registry
from pipeline.normalize import Normalizer

PROSE = Normalizer()
CODE = Normalizer(keep_indentation=True)


@pytest.mark.parametrize("broken, fixed", [
    ("cafÃ©", "café"),
    ("The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.", "The Mona Lisa doesn’t have eyebrows."),
    ("â€œquotedâ€\x9d", "“quoted”"),
    ("voilÃ le travail", "voilà le travail"),
    ("\x93smart quotes\x94", "“smart quotes”"),  # C1 bytes are cp1252 punctuation
    ("emoji \ud83d\ude00", "emoji 😀"),          # UTF-16 surrogate pair joined
])
def test_mojibake_is_repaired(broken, fixed):
    assert PROSE.normalize(broken) == fixed


def test_ftfy_only_repairs_encoding():
    # Correct text keeps its HTML entities, ligatures, full-width forms and curly quotes.
    text = "naïve café &amp; ﬁne ＡＢＣ “ok” — Zürich"
    assert PROSE.normalize(text) == text
    assert Normalizer(fix_mojibake=False).normalize("cafÃ©") == "cafÃ©"


def test_mojibake_hidden_behind_control_characters_still_converges():
    text = "Ã\x01©"
    once = PROSE.normalize(text)
    assert once == "é" and PROSE.normalize(once) == once


def test_nfc():
    assert PROSE.normalize("cafe\u0301") == "café"
    assert Normalizer(nfc=False).normalize("cafe\u0301") == "cafe\u0301"


def test_control_and_invisible_characters_are_removed():
    text = "\ufeffHello\u200b wor\u00adld\x07\x00! \u2060end\x7f"
    assert PROSE.normalize(text) == "Hello world! end"
    # Joiners are kept: Persian and emoji sequences need them.
    assert PROSE.normalize("می\u200cخواهم 👩\u200d💻") == "می\u200cخواهم 👩\u200d💻"
    # A lone surrogate cannot be written as UTF-8: ftfy marks it U+FFFD, or it is removed.
    assert PROSE.normalize("lone \udc00 surrogate") == "lone \ufffd surrogate"
    assert Normalizer(fix_mojibake=False).normalize("lone \udc00 surrogate") == "lone surrogate"
    assert Normalizer(strip_control=False).normalize("a\x07b") == "a\x07b"


def test_prose_whitespace():
    text = "  \r\n\r\nTitle\t\t here  \r\nline\u00a0two\u3000end   \n\n\n\n\nnext\x0cpage \n \n"
    assert PROSE.normalize(text) == "Title here\nline two end\n\nnext\npage"


def test_every_line_separator_becomes_a_newline():
    assert PROSE.normalize("a\rb\u2028c\u2029d\x0be\x1cf") == "a\nb\nc\nd\ne\nf"


def test_code_keeps_indentation():
    text = "\n\n   \ndef f(x):\r\n\tif x:  \n\t\treturn  x   \n\n\n\n    pass\t\n\n"
    assert CODE.normalize(text) == "def f(x):\n\tif x:\n\t\treturn  x\n\n    pass"
    assert CODE.normalize("    indented first line\n") == "    indented first line"


def test_whitespace_can_be_left_alone():
    text = "a  b \r\n\n\n\nc "
    assert Normalizer(whitespace=False, strip_control=False).normalize(text) == text


def test_empty_result_is_dropped():
    for text in ("", "   \n\t\r\n", "\ufeff\u200b\x00"):
        result = PROSE(text)
        assert result.drop_reason == "normalize.empty" and result.text == ""
    kept = PROSE("  hello ")
    assert kept.keep and kept.text == "hello"


def test_parameters_from_spec():
    params = registry.step_parameters("normalize")
    assert params == {"nfc": bool, "fix_mojibake": bool, "strip_control": bool,
                      "whitespace": bool, "keep_indentation": bool}
    assert registry.build_step("normalize", {"keep_indentation": True}).keep_indentation


# --- idempotence -----------------------------------------------------------------------------

_spaces = st.sampled_from([" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n\n", "\u00a0", "\u2003",
                           "\u3000", "\x0c", "\x85", "\u2028", " \n ", "\x00", "\ufeff",
                           "\u200b", "\u00ad"])
_pieces = st.sampled_from(["café", "A\u0303", "\u0303", "©", "Ã", "â€", "\x80", "\x9d", "word",
                           "—", "’", "日本", "e\u0301", "\ud83d", "\ude00", "Ã\xa0"])
mixed_whitespace = st.lists(st.one_of(_spaces, _pieces, st.text(max_size=4)),
                            max_size=30).map("".join)
mojibake = st.text().map(lambda s: s.encode("utf-8", "surrogatepass").decode("latin-1"))
mojibake_1252 = st.text().map(
    lambda s: s.encode("utf-8", "surrogatepass").decode("cp1252", "replace"))
any_text = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec=None)),
    mixed_whitespace,
    mojibake,
    mojibake_1252,
    st.lists(st.one_of(mojibake, mixed_whitespace), max_size=4).map("".join),
)
hypothesis_settings = settings(max_examples=300, deadline=None,
                               suppress_health_check=[HealthCheck.too_slow])


@hypothesis_settings
@given(any_text)
def test_prose_normalisation_is_idempotent(text):
    once = PROSE.normalize(text)
    assert PROSE.normalize(once) == once


@hypothesis_settings
@given(any_text)
def test_code_normalisation_is_idempotent(text):
    once = CODE.normalize(text)
    assert CODE.normalize(once) == once


@hypothesis_settings
@given(any_text)
def test_normalised_text_is_clean(text):
    once = PROSE.normalize(text)
    assert unicodedata.is_normalized("NFC", once)
    assert "\r" not in once and "\n\n\n" not in once and "  " not in once
    assert once == once.strip()
    assert not any(unicodedata.category(c) in ("Cc", "Cs") and c != "\n" for c in once)
    once.encode("utf-8")  # always writable
