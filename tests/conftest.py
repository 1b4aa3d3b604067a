"""Shared fixtures. Nothing here touches the network: data is made by the tests."""

import logging
import os

import pytest

# Beam's workers log every bundle at INFO; keep test output readable.
logging.getLogger("apache_beam").setLevel(logging.WARNING)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_SPEC = os.path.join(ROOT, "tasks", "specs", "palm_demo.yaml")


@pytest.fixture(autouse=True)
def _root_logging_as_it_was():
    """Commands' main() set up the root logger's console and level: put both back after each
    test, so one test's command never changes what the next one logs."""
    from pipeline import console

    root = logging.getLogger()
    before, level = set(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if console.is_console(h) and h not in before]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> dict:
    """Demo corpus -> prep outputs -> SentencePiece vocabulary, built once per test session and
    shared by tests/test_tokenizer.py and tests/test_tasks.py (it is their expensive part)."""
    from launch import demo_corpus
    from pipeline import prep, train_tokenizer

    root = tmp_path_factory.mktemp("demo")
    raw, out, tok = (str(root / d) for d in ("raw", "prep", "tok"))
    demo_corpus.generate(raw, size_mb=1.5, seed=0)
    prep.run(["--sources", f"{raw}/sources.yaml", "--output_dir", out, "--direct_num_workers=2"])
    manifest = train_tokenizer.run([
        "--data_dir", out, "--vocab_size", "2000", "--output_dir", tok,
        "--mixture_spec", DEMO_SPEC, "--sample_bytes", "600000", "--direct_num_workers=2"])
    return dict(prep=out, tok=tok, model=os.path.join(tok, "spm.model"), spec=DEMO_SPEC,
                manifest=manifest)
