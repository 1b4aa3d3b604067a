"""One writer per output (pipeline/output_lease.py): a second writer is refused naming the holder,
a gone holder is taken over (and logged), racing writers never both win, SIGTERM releases, and
every command that writes a directory holds one while readers (eval, infer, sample) never do."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from pipeline import output_lease

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT}

# A process that holds the lease on argv[1] (beside it if argv[2] == "beside"), says so, and
# waits to be killed.
HOLDER = """
import sys, time
from pipeline import output_lease
with output_lease.hold(sys.argv[1], "test holder", beside=sys.argv[2:] == ["beside"]):
    print("held", flush=True)
    time.sleep(600)
"""


def start_holder(directory, beside=False) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)] +
                            (["beside"] if beside else []), cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held", proc.stderr.read()
    return proc


def kill_9(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


def write_lease(directory, **fields) -> None:
    now = time.time()
    record = {"what": "training run", "host": socket.gethostname(), "pid": os.getpid(),
              "since": "earlier", "since_unix": now, "heartbeat_unix": now, "token": "old",
              **fields}
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, output_lease.LEASE_NAME), "w") as f:
        json.dump(record, f)


def test_a_second_writer_is_refused_naming_the_holder(tmp_path):
    out = tmp_path / "out"
    holder = start_holder(out)
    try:
        start = time.monotonic()
        with pytest.raises(output_lease.LeaseHeld) as refused:
            output_lease.acquire(str(out), "prep job")
        assert time.monotonic() - start < 2
        message = str(refused.value)
        assert f"host {socket.gethostname()}, pid {holder.pid}, since 20" in message
        assert "test holder" in message and "refusing to start a second prep job" in message
        record = output_lease.holder_of(str(out))
        assert record["pid"] == holder.pid and record["what"] == "test holder"
    finally:
        kill_9(holder)


def test_a_killed_holder_is_taken_over_at_once_and_logged(tmp_path, caplog):
    out = tmp_path / "out"
    holder = start_holder(out)
    kill_9(holder)  # kill -9 cannot release: the lease file stays
    assert output_lease.holder_of(str(out))["pid"] == holder.pid
    caplog.set_level(logging.INFO)
    start = time.monotonic()
    with output_lease.hold(str(out), "prep job"):
        assert time.monotonic() - start < 2
        assert output_lease.holder_of(str(out))["pid"] == os.getpid()
    assert f"took over the lease on {out} from a test holder (host {socket.gethostname()}, " \
           f"pid {holder.pid}" in caplog.text
    assert f"its process {holder.pid} no longer exists" in caplog.text
    assert not os.path.exists(out / output_lease.LEASE_NAME)


def test_another_hosts_lease_is_taken_over_only_once_its_heartbeat_is_stale(tmp_path, caplog):
    out = str(tmp_path / "out")
    write_lease(out, host="another-host", pid=1, heartbeat_unix=time.time() - 5)
    with pytest.raises(output_lease.LeaseHeld, match="host another-host, pid 1"):
        output_lease.acquire(out, "training run")
    write_lease(out, host="another-host", pid=1, heartbeat_unix=time.time() - 120)
    with output_lease.hold(out, "training run"):
        pass
    assert "no heartbeat for 120 s (limit 60 s)" in caplog.text


def test_a_reused_pid_or_an_unreadable_lease_is_no_live_holder(tmp_path, caplog):
    out = str(tmp_path / "out")
    write_lease(out, pid=os.getppid(), process_start="1")  # a live pid, but not the holder
    with output_lease.hold(out, "training run"):
        pass
    assert f"pid {os.getppid()} now belongs to another process" in caplog.text
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, output_lease.LEASE_NAME), "w") as f:
        f.write('{"host": "cut sh')
    os.utime(os.path.join(out, output_lease.LEASE_NAME), (0, 0))
    with output_lease.hold(out, "training run"):
        pass
    assert "the lease file is unreadable" in caplog.text


def test_heartbeat_release_and_the_folder_it_made(tmp_path):
    out = tmp_path / "new" / "out"
    lease = output_lease.acquire(str(out), "prep job", heartbeat_seconds=0.05)
    first = output_lease.holder_of(str(out))
    assert first["host"] == socket.gethostname() and first["pid"] == os.getpid()
    assert first["what"] == "prep job" and first["since"].endswith("UTC")
    time.sleep(0.5)
    assert output_lease.holder_of(str(out))["heartbeat_unix"] > first["heartbeat_unix"]
    lease.release()
    assert not out.exists()  # made for the lease, nothing written: removed again
    kept = tmp_path / "kept"
    with output_lease.hold(str(kept), "prep job"):
        (kept / "part-0").write_text("output")
    assert sorted(os.listdir(kept)) == ["part-0"]
    assert not [n for n in os.listdir(tmp_path) if ".tmp" in n or "takeover" in n]


def test_a_holder_whose_lease_was_taken_over_stops(tmp_path):
    out = str(tmp_path / "out")
    lost = []
    lease = output_lease.acquire(out, "training run", heartbeat_seconds=0.05,
                                 on_lost=lambda lease, holder: lost.append(holder))
    write_lease(out, host="another-host", pid=7, token="new")
    for _ in range(100):
        if lost:
            break
        time.sleep(0.05)
    assert lost and lost[0]["host"] == "another-host"
    lease.release()  # must not remove the new holder's lease
    assert output_lease.holder_of(out)["token"] == "new"


# Writers that start at the same instant: each prints "won" or "refused".
RACER = """
import sys, time
from pipeline import output_lease
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
try:
    with output_lease.hold(sys.argv[1], "racer"):
        print("won", flush=True)
        time.sleep(1.5)
except output_lease.LeaseHeld:
    print("refused", flush=True)
"""


@pytest.mark.parametrize("stale", [False, True])
def test_only_one_of_many_racing_writers_wins(tmp_path, stale):
    out = str(tmp_path / "out")
    if stale:  # a dead holder's lease: only one racer may take it over
        write_lease(out, host="another-host", heartbeat_unix=time.time() - 3600)
    start = time.time() + 1.5
    racers = [subprocess.Popen([sys.executable, "-c", RACER, out, str(start)], cwd=ROOT, env=ENV,
                               stdout=subprocess.PIPE, text=True) for _ in range(6)]
    results = sorted(p.communicate(timeout=60)[0].strip() for p in racers)
    assert results == ["refused"] * 5 + ["won"]


def test_sigterm_releases_the_lease(tmp_path):
    out = tmp_path / "out"
    holder = start_holder(out)
    holder.send_signal(signal.SIGTERM)
    assert holder.wait(timeout=30) == -signal.SIGTERM
    assert not (out / output_lease.LEASE_NAME).exists()


def test_a_lease_beside_a_folder_replaced_whole(tmp_path):
    out = tmp_path / "stream"
    holder = start_holder(out, beside=True)
    try:
        assert (tmp_path / f"stream{output_lease.LEASE_NAME}").exists() and not out.exists()
        with pytest.raises(output_lease.LeaseHeld):
            output_lease.acquire(str(out), "materialise job", beside=True)
    finally:
        kill_9(holder)


def test_an_object_store_lease_uses_exclusive_create(caplog):
    import fsspec

    base = f"memory://lease-test-{time.time_ns()}/run"
    fs = fsspec.filesystem("memory")
    with output_lease.hold(base, "training run"):
        assert output_lease.holder_of(base)["pid"] == os.getpid()
        with pytest.raises(output_lease.LeaseHeld):  # this process is alive: refused
            output_lease.acquire(base, "training run")
    assert not fs.exists(f"{base}/{output_lease.LEASE_NAME}")
    stale = {"host": "another-host", "pid": 3, "token": "old", "heartbeat_unix": 0}
    fs.pipe_file(f"{base}/{output_lease.LEASE_NAME}", json.dumps(stale).encode())
    with output_lease.hold(base, "training run"):
        assert output_lease.holder_of(base)["host"] == socket.gethostname()
    assert "took over the lease" in caplog.text
    assert not [p for p in fs.find(base.split("/run")[0]) if "takeover" in p]


def test_a_store_without_exclusive_create_reads_the_lease_back(monkeypatch):
    """The fallback (check, put, wait, read back): a writer whose put was overwritten by
    another's before the read-back sees the other's lease and is refused."""
    monkeypatch.setattr(output_lease, "SETTLE_SECONDS", 0.05)
    base = f"memory://lease-test-{time.time_ns()}/run"
    path = f"{base}/{output_lease.LEASE_NAME}"
    storage = output_lease._storage(path)
    storage.atomic = False
    rival = {"host": "another-host", "pid": 3, "token": "rival", "heartbeat_unix": time.time()}
    put = storage.create

    def create_then_overwritten(p, data):
        made = put(p, data)
        storage.fs.pipe_file(p, json.dumps(rival).encode())  # the other writer's put lands
        return made

    monkeypatch.setattr(storage, "create", create_then_overwritten)
    monkeypatch.setattr(output_lease, "_storage", lambda p: storage)
    with pytest.raises(output_lease.LeaseHeld, match="host another-host, pid 3"):
        output_lease.acquire(base, "training run")


def _command(name: str, out: str) -> tuple:
    """(main, argv) of each command that writes `out`; they are refused before reading input."""
    if name == "prep":
        from pipeline import prep
        return prep.main, ["--sources", "never-read.yaml", "--output_dir", out]
    if name == "tokenizer":
        from pipeline import train_tokenizer
        return train_tokenizer.main, ["--data_dir", "x", "--vocab_size", "300",
                                      "--output_dir", out]
    if name == "cache":
        from tasks import cache
        return cache.main, ["--spec", "never-read.yaml", f"--output_cache_dir={out}"]
    from tasks import materialize
    return materialize.main, ["--mixture", "m", "--sequence_length", "8", "--batch_size", "1",
                              "--steps", "1", "--output_dir", out]


@pytest.mark.parametrize("name", ["prep", "tokenizer", "cache", "materialize"])
def test_every_writing_command_is_refused_on_a_held_directory(tmp_path, capsys, name):
    out = tmp_path / "out"
    holder = start_holder(out, beside=name == "materialize")
    try:
        before = sorted(os.listdir(tmp_path))
        main, argv = _command(name, str(out))
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"{out} is already being written by a test holder (host " in err
        assert f"pid {holder.pid}, since " in err and "Traceback" not in err
        assert sorted(os.listdir(tmp_path)) == before  # nothing written
    finally:
        kill_9(holder)


# ---------------------------------------------------------------------------------------------
# Training: two trainers on one MODEL_DIR, readers on a live run, takeover after kill -9

@pytest.fixture(scope="module")
def train_env(tmp_path_factory):
    from tests import train_tasks

    data = str(tmp_path_factory.mktemp("train_tasks"))
    train_tasks.write_data(data)
    train_tasks.register(data)
    os.environ["PALM_TEST_TASKS_DIR"] = data
    cache = str(tmp_path_factory.mktemp("jax_cache"))
    return {**ENV, "PALM_TEST_TASKS_DIR": data, "JAX_PLATFORMS": "cpu",
            "JAX_COMPILATION_CACHE_DIR": cache, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}


def _wait_for(path: str, proc: subprocess.Popen, seconds: float = 300) -> None:
    for _ in range(int(seconds / 0.1)):
        if os.path.exists(path):
            return
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.1)
    raise AssertionError(f"{path} never appeared")


def _readers_work_on(run: str, tmp_path) -> None:
    """launch.sample, launch.eval, launch.infer and launch.export_hf on a run whose trainer is
    live."""
    from launch import eval as eval_cli
    from launch import export_hf
    from launch import infer as infer_cli
    from launch import sample as sample_cli
    from tests import hf_fixtures
    from tests.train_tasks import TEXT_TO_TEXT

    common = ["--gin_file=gin/models/palm_tiny.gin", f"--gin.CHECKPOINT_PATH='{run}/checkpoint_0'",
              "--gin.MIXTURE_OR_TASK_MODULE='tests.train_tasks'", "--gin.PalmConfig.num_layers=1",
              "--gin.PalmConfig.dtype='float32'"]
    assert sample_cli.main([f"--gin_file={run}/config.gin", f"--checkpoint={run}",
                            "--vocabulary=byte", "--prompt=1 2 3", "--max_new_tokens=4",
                            f"--output={tmp_path / 'samples.json'}"]) == 0
    assert eval_cli.main(["--gin_file=gin/runs/eval.gin", *common,
                          "--gin.MIXTURE_OR_TASK_NAME='tiny_mix'",
                          f"--gin.EVAL_OUTPUT_DIR='{tmp_path / 'eval'}'",
                          "--gin.TASK_FEATURE_LENGTHS={'targets': 64}"]) == 0
    assert infer_cli.main(["--gin_file=gin/runs/infer.gin", *common,
                           f"--gin.MIXTURE_OR_TASK_NAME='{TEXT_TO_TEXT}'",
                           "--gin.utils.DatasetConfig.split='validation'",
                           f"--gin.INFER_OUTPUT_DIR='{tmp_path / 'infer'}'",
                           "--gin.TASK_FEATURE_LENGTHS={'inputs': 8, 'targets': 8}"]) == 0
    vocabulary = hf_fixtures.train_vocabulary(str(tmp_path / "vocab"), vocab_size=500)
    assert export_hf.main([f"--checkpoint={run}/checkpoint_0", f"--vocabulary={vocabulary}",
                           f"--output_dir={tmp_path / 'hf'}"]) == 0


@pytest.mark.slow  # three trainers and four readers: two to four minutes
def test_two_trainers_readers_on_a_live_run_and_takeover_after_kill_9(train_env, tmp_path,
                                                                      monkeypatch):
    from tests.train_tasks import train_args

    monkeypatch.chdir(ROOT)
    run = str(tmp_path / "run")
    command = [sys.executable, "-m", "launch.train"]
    first = subprocess.Popen(command + train_args(run, 100000, "--gin.utils.SaveCheckpointConfig"
                                                  ".period=100000"),
                             cwd=ROOT, env=train_env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(f"{run}/checkpoint_0/checksums/process_0.json", first)
        assert output_lease.holder_of(run)["pid"] == first.pid
        start = time.monotonic()
        second = subprocess.run(command + train_args(run, 6), cwd=ROOT, env=train_env,
                                check=False, capture_output=True, text=True, timeout=300)
        seconds = time.monotonic() - start  # mostly importing JAX and TensorFlow
        assert second.returncode == 2, second.stderr[-3000:]
        assert f"{run} is already being written by a training run (host " \
               f"{socket.gethostname()}, pid {first.pid}, since " in second.stderr
        print(f"the second trainer exited after {seconds:.1f} s")
        assert "Traceback" not in second.stderr and seconds < 120, seconds
        assert output_lease.holder_of(run)["pid"] == first.pid  # untouched
        _readers_work_on(run, tmp_path)  # no lease taken: the live run keeps it
        assert output_lease.holder_of(run)["pid"] == first.pid
        with open(f"{run}/metrics.jsonl") as f:
            lines = f.read().splitlines()
    finally:
        kill_9(first)
    assert lines and output_lease.holder_of(run)["pid"] == first.pid  # kill -9 leaves it
    third = subprocess.run(command + train_args(run, 4), cwd=ROOT, env=train_env,
                           check=False, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr[-3000:]
    assert f"took over the lease on {run} from a training run (host {socket.gethostname()}, " \
           f"pid {first.pid}" in third.stderr
    assert f"its process {first.pid} no longer exists" in third.stderr
    with open(f"{run}/metrics.jsonl") as f:
        records = [json.loads(line) for line in f]
    steps = [r["step"] for r in records if r["kind"] == "train"]
    assert steps == [1, 2, 3, 4]
    assert output_lease.holder_of(run) is None  # released at the end
