"""docs/your-own-data.md cannot go stale: its bash blocks run, in order, as one script, on a
small folder of files made here, with only the four settings of its first block changed (where
the files are, where results go, and two sizes made small). The console output is checked for
third-party noise too (tests/test_console.py)."""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.test_console import console_noise

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(REPO, "docs", "your-own-data.md")
SETTINGS = ("DATA", "WORK", "VOCAB", "STEPS")


def page_script(values: dict[str, str]) -> str:
    """The page's bash blocks joined, each setting of the first block replaced by values."""
    with open(PAGE, encoding="utf-8") as f:
        blocks = re.findall(r"```bash\n(.*?)```", f.read(), re.S)
    assert blocks, "no bash block in docs/your-own-data.md"
    first = blocks[0]
    for name in SETTINGS:
        first, n = re.subn(rf"^{name}=\S+", f"{name}={values[name]}", first, flags=re.M)
        assert n == 1, f"the first block of the page must set {name}= once"
    script = "\n".join([first, *blocks[1:]])
    return script.replace(".venv/bin/python", sys.executable)


def test_the_page_sets_its_settings_first_and_runs_every_step():
    script = page_script({name: "x" for name in SETTINGS})
    for command in ("pipeline.prep", "pipeline.train_tokenizer", "tasks.materialize",
                    "launch.train", "launch.eval", "PALM_TASKS_SPEC", "STEPS + 400"):
        assert command in script, command


def _user_folder(root: str) -> str:
    """A folder as a user has one: plain-text files and gzipped JSON Lines (taken from the demo
    corpus, so the text passes the English filters)."""
    from launch import demo_corpus

    raw = os.path.join(root, "raw")
    demo_corpus.generate(raw, size_mb=1.0, seed=3)
    data = os.path.join(root, "my_text")
    os.makedirs(os.path.join(data, "chats"))
    shutil.copytree(os.path.join(raw, "books"), os.path.join(data, "notes"))
    for path in glob.glob(os.path.join(raw, "conversations", "*.jsonl.gz")):
        shutil.copy(path, os.path.join(data, "chats"))
    shutil.rmtree(raw)
    return data


@pytest.mark.slow
def test_every_command_of_the_page_runs(tmp_path):
    data = _user_folder(str(tmp_path))
    work = str(tmp_path / "work")
    script = page_script({"DATA": data, "WORK": work, "VOCAB": "1000", "STEPS": "8"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("PALM_TASKS_")}
    env["PYTHONPATH"] = os.pathsep.join([REPO, env.get("PYTHONPATH", "")])
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1800)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    results = json.load(open(os.path.join(work, "eval", "eval_results.json"), encoding="utf-8"))
    assert "my_mix.notes" in json.dumps(results) and "my_mix.chats" in json.dumps(results)
    assert os.path.exists(os.path.join(work, "prep", "report.html"))
    assert not console_noise(output), "\n".join(console_noise(output))
