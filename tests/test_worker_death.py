"""A Beam worker dies mid-job (SIGKILL of one DirectRunner worker process during prep).

Either Beam retries and the job finishes with output identical to an undisturbed run's, or the
job fails cleanly: exit 1, one message, no traceback, no source with a manifest. Either way,
rerunning the same command gives byte-identical output (Beam's retries, not our own).
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _prep(raw: str, out: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.prep", "--sources", f"{raw}/sources.yaml",
         "--output_dir", out, "--direct_num_workers=2", "--progress_seconds=0"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"},
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _workers(job: subprocess.Popen) -> list:
    """The job's Beam worker processes (Python, not the shells that start them)."""
    import psutil

    found = []
    for child in psutil.Process(job.pid).children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if "sdk_worker_main" in " ".join(cmdline) and not cmdline[0].endswith("sh"):
            found.append(child)
    return found


def _outputs(out: str) -> dict:
    """Per source: every published file's (bytes, crc32c), from the manifests' checksums."""
    sources = {}
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name, "manifest.json")
        if os.path.exists(path):
            sources[name] = json.load(open(path))["checksums"]
    return sources


@pytest.mark.slow  # three small prep jobs; a few minutes on a loaded 2-core machine
def test_a_killed_beam_worker_fails_cleanly_or_retries_and_a_rerun_is_identical(tmp_path):
    from launch import demo_corpus

    raw = str(tmp_path / "raw")
    demo_corpus.generate(raw, size_mb=0.4, seed=0)
    out = str(tmp_path / "out")
    job = _prep(raw, out)
    deadline = time.time() + 400
    workers = []
    while time.time() < deadline and job.poll() is None and len(workers) < 2:
        workers = _workers(job)
        time.sleep(0.2)
    assert len(workers) >= 2, "the job's Beam workers did not start"
    # Partway: after the workers have run a few seconds of bundles, before the job ends.
    time.sleep(3)
    assert job.poll() is None, "the job ended before a worker could be killed"
    workers[0].send_signal(signal.SIGKILL)
    reference = _prep(raw, str(tmp_path / "reference"))  # undisturbed, meanwhile
    try:
        _, err = job.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        job.send_signal(signal.SIGTERM)  # the job's handler stops its workers
        _, err = job.communicate(timeout=60)
        pytest.fail(f"the job hung after its worker died: {err.decode()[-3000:]}")
    err = err.decode()
    if job.returncode == 0:  # Beam retried the lost work
        outputs = _outputs(out)
    else:
        assert job.returncode == 1, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        assert "error: the Beam job failed" in err and "rerun the same command" in err
        assert _outputs(out) == {}, "a source was published by a failed job"
        rerun = _prep(raw, out)
        _, rerun_err = rerun.communicate(timeout=600)
        assert rerun.returncode == 0, rerun_err.decode()[-3000:]
        outputs = _outputs(out)
    _, ref_err = reference.communicate(timeout=600)
    assert reference.returncode == 0, ref_err.decode()[-3000:]
    expected = _outputs(str(tmp_path / "reference"))
    assert expected and outputs == expected
    from launch import data_verify
    assert data_verify.main([out]) == 0
