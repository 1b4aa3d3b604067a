"""A full disk, for real: each job that writes runs with its output on a small tmpfs, stops with
exit 1 and one message (the path, what was being written, the space needed when known; no
traceback), leaves nothing that looks complete, and after space is freed (the tmpfs made larger)
or the output moved to a larger disk, the same command finishes. Training resumes bitwise equal
to an undisturbed run. Mounting needs root (CI runs as root); without it the tests skip."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys

import pytest

from launch.run import checksums, jsonl
from pipeline import output_lease

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROSE = ("The old lighthouse stood at the edge of the cliff, watching over the harbor with "
         "patient attention. Every evening the keeper climbed the narrow stairs to light the "
         "lamp, and every morning he wrote a short note in his logbook about the weather and the "
         "ships that passed. Visitors often asked him whether he felt lonely, but he always said "
         "that the sea was company enough for a man who liked quiet work.")
LOCAL_BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


@contextlib.contextmanager
def tmpfs(path, size: str):
    """A tmpfs of `size` mounted at `path` for the block (skips the test where mounting is not
    permitted); unmounted at the end, whatever happens."""
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          check=False, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield str(path)
    finally:
        if subprocess.run(["umount", str(path)], check=False,
                          capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def grow(path, size: str) -> None:
    """Frees space: the tmpfs at `path` remounted with a larger size (its files stay)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def fill(path, leave: int) -> None:
    """Other files on the disk: leaves about `leave` bytes free on the filesystem of `path`."""
    free = shutil.disk_usage(path).free
    with open(os.path.join(path, "other-files"), "wb") as f:
        f.write(b"\0" * max(0, free - leave))


def read(path) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def files_named(root, name: str) -> list[str]:
    return [os.path.join(d, name) for d, _, files in os.walk(root) if name in files]


def assert_clean_failure(err: str, what: str, path: str) -> None:
    assert f"error: out of disk space while writing {what} to {path}" in err, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    assert "Free space (or move the output to a larger disk) and rerun the same command" in err


# ---------------------------------------------------------------------------------------------
# metrics.jsonl: a line the disk has no room for is never left torn

def test_a_metrics_line_is_never_torn_on_a_full_disk(tmp_path):
    with tmpfs(tmp_path / "disk", "64k") as disk:
        fill(disk, 10_000)  # two or three 4 KB pages
        log = jsonl.MetricsLog(os.path.join(disk, "metrics.jsonl"))
        with pytest.raises(OSError) as full:
            for step in range(1, 1000):
                log.write({"step": step, "kind": "train", "loss": 1.0 / step, "pad": "x" * 150})
        assert full.value.errno == 28
        text = read(os.path.join(disk, "metrics.jsonl"))
        assert text.endswith("\n")
        steps = [json.loads(line)["step"] for line in text.splitlines()]
        assert steps == list(range(1, len(steps) + 1)) and steps
        log.close()


# ---------------------------------------------------------------------------------------------
# Data jobs: prep, the tokenizer's sample, the seqio cache, materialise

def _corpus(folder) -> str:
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "books.jsonl"), "w") as f:
        f.writelines(json.dumps({"text": f"{PROSE} Entry {i} of the logbook was written on day "
                                         f"{i * 7919 % 10007} with care and with ink."}) + "\n"
                     for i in range(1200))
    spec = os.path.join(folder, "sources.yaml")
    with open(spec, "w") as f:
        json.dump({"dedup": False, "sources": [{"name": "books", "role": "books",
                                               "format": "jsonl", "paths": ["books.jsonl"],
                                               "languages": ["en"]}]}, f)
    return spec


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Prep outputs and a vocabulary (on a large disk), for the jobs downstream of them."""
    from pipeline import prep, train_tokenizer

    root = tmp_path_factory.mktemp("full_disk")
    spec = _corpus(root / "raw")
    prepped, tok = str(root / "prep"), str(root / "tok")
    prep.run(["--sources", spec, "--output_dir", prepped, *LOCAL_BEAM])
    train_tokenizer.run(["--data_dir", prepped, "--vocab_size", "300", "--output_dir", tok,
                         "--sample_bytes", "200000", *LOCAL_BEAM])
    mixture = root / "mixture.yaml"
    mixture.write_text(json.dumps({"name": "full_disk", "vocabulary": f"{tok}/spm.model",
                                   "data_dir": prepped,
                                   "sources": [{"name": "books", "role": "books",
                                                "weight": 1}]}))
    return {"spec": spec, "prep": prepped, "tok": tok, "mixture": str(mixture)}


def test_prep_on_a_full_disk_stops_cleanly_and_reruns_once_space_is_freed(outputs, tmp_path,
                                                                          capsys):
    from pipeline import prep

    with tmpfs(tmp_path / "disk", "256k") as disk:
        out = os.path.join(disk, "prep")
        args = ["--sources", outputs["spec"], "--output_dir", out, *LOCAL_BEAM]
        assert prep.main(args) == 1
        assert_clean_failure(capsys.readouterr().err, "the prep outputs", disk)
        assert not files_named(disk, "manifest.json")  # nothing looks complete
        assert output_lease.holder_of(out) is None
        grow(disk, "64m")
        assert prep.main(args) == 0
        manifest = json.loads(read(os.path.join(out, "books", "manifest.json")))
        expected = json.loads(read(os.path.join(outputs["prep"], "books", "manifest.json")))
        assert manifest["complete"] and manifest["documents_out"] == expected["documents_out"]


def test_the_tokenizer_sample_on_a_full_disk(outputs, tmp_path, capsys):
    from pipeline import train_tokenizer

    with tmpfs(tmp_path / "disk", "128k") as disk:
        out = os.path.join(disk, "tok")
        args = ["--data_dir", outputs["prep"], "--vocab_size", "300", "--output_dir", out,
                "--sample_bytes", "400000", *LOCAL_BEAM]
        assert train_tokenizer.main(args) == 1
        assert_clean_failure(capsys.readouterr().err, "the tokenizer's sample and vocabulary",
                             disk)
        assert not os.path.exists(os.path.join(out, "manifest.json"))
        grow(disk, "64m")
        assert train_tokenizer.main(args) == 0
        assert json.loads(read(os.path.join(out, "manifest.json")))["vocab_size"] == 300


def test_the_seqio_cache_on_a_full_disk(outputs, tmp_path, capsys):
    import seqio

    from tasks import cache

    with tmpfs(tmp_path / "disk", "64k") as disk:
        out = os.path.join(disk, "cache")
        args = ["--spec", outputs["mixture"], "--output_cache_dir", out, "--min_shards", "1",
                *LOCAL_BEAM]
        dirs = list(seqio.utils._GLOBAL_CACHE_DIRECTORIES)
        try:
            assert cache.main(args) == 1
            assert_clean_failure(capsys.readouterr().err, "the seqio cache", disk)
            assert not files_named(disk, "COMPLETED")  # seqio's completion marker
            grow(disk, "64m")
            assert cache.main(args) == 0
        finally:
            seqio.utils.set_global_cache_dirs(dirs)
        assert files_named(disk, "COMPLETED")


def test_materialise_on_a_full_disk(tmp_path, capsys):
    from tasks import materialize
    from tests import train_tasks

    data = str(tmp_path / "tiny_tasks")
    train_tasks.write_data(data)
    train_tasks.register(data)
    with tmpfs(tmp_path / "disk", "64k") as disk:
        out = os.path.join(disk, "stream")
        args = ["--mixture", "tiny_mix", "--module", "tests.train_tasks", "--sequence_length",
                "64", "--batch_size", "8", "--steps", "120", "--output_dir", out, *LOCAL_BEAM]
        assert materialize.main(args) == 1
        assert_clean_failure(capsys.readouterr().err, "the training stream", disk)
        assert os.listdir(disk) == []  # no stream, no staging folder, no lease
        grow(disk, "64m")
        assert materialize.main(args) == 0
        assert json.loads(read(os.path.join(out, "manifest.json")))["rows"] >= 960


# ---------------------------------------------------------------------------------------------
# Training: 14 MB disk, checkpoints every 2 steps; MODEL_DIR moved to a large disk and resumed

@pytest.mark.slow  # three small training runs: about a minute and a half
def test_training_on_a_full_disk_resumes_bitwise_on_a_larger_one(tmp_path, monkeypatch):
    from launch import train as train_cli
    from tests import train_tasks
    from tests.test_faults import assert_bitwise_equal, train_lines
    from tests.train_tasks import train_args

    data = str(tmp_path / "tiny_tasks")
    train_tasks.write_data(data)
    train_tasks.register(data)
    monkeypatch.setenv("PALM_TEST_TASKS_DIR", data)
    monkeypatch.chdir(ROOT)
    env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu"}
    period = "--gin.utils.SaveCheckpointConfig.period=2"
    straight = str(tmp_path / "straight")
    assert train_cli.main(train_args(straight, 6, period)) == 0

    disk = tmp_path / "disk"
    run = str(disk / "run")
    command = [sys.executable, "-m", "launch.train", *train_args(run, 6, period)]
    with tmpfs(disk, "14m"):
        fill(disk, 2_300_000)  # room for checkpoints 0 and 2 (0.5 + 1.1 MB), not for 4
        full = subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True,
                              text=True, timeout=600)
        assert full.returncode == 1, full.stderr[-3000:]
        assert_clean_failure(full.stderr, "checkpoint_4", f"{run}/checkpoint_4")
        assert "MB needed" in full.stderr and "free there" in full.stderr
        assert output_lease.holder_of(run) is None
        for step in (0, 2):  # complete and verified; nothing else looks like a checkpoint
            assert checksums.verify(f"{run}/checkpoint_{step}") == []
        assert not [n for n in os.listdir(run) if n.startswith("checkpoint_")
                    and n not in ("checkpoint_0", "checkpoint_2") and ".orbax-checkpoint-tmp"
                    not in n]
        lines = read(f"{run}/metrics.jsonl")
        assert lines.endswith("\n") and all(json.loads(line) for line in lines.splitlines())
        moved = str(tmp_path / "moved")
        shutil.copytree(run, moved, symlinks=True)
    os.rename(moved, run)  # the same MODEL_DIR, now on the large disk: the same command
    resumed = subprocess.run(command, cwd=ROOT, env=env, check=False, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resumed from {run}/checkpoint_2" in resumed.stderr
    got = [(r["step"], r["loss"]) for r in train_lines(run)]
    assert got == [(r["step"], r["loss"]) for r in train_lines(straight)]
    assert [s for s, _ in got] == [1, 2, 3, 4, 5, 6]
    assert_bitwise_equal(f"{straight}/checkpoint_6", f"{run}/checkpoint_6")
