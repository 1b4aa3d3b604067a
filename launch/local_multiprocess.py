"""Run a multi-host job as several processes on this machine (CPU devices, gloo collectives).

    python -m launch.local_multiprocess -n 2 --devices_per_process 2 -- \
        --gin_file=gin/runs/pretrain.gin --gin_file=gin/models/palm_tiny.gin --gin.MODEL_DIR=...

Starts `python -m launch.train <args> --coordinator_address=localhost:<free port>
--process_count=N --process_index=i` N times, each with `devices_per_process` simulated CPU
devices, prefixes their output with [i], forwards SIGTERM/SIGINT to all of them, and stops the
others when one fails. Exit status: the first non-zero one, else 0. It is the same code path as a
real multi-host TPU/GPU run, which differs only in where the processes start (BUILD.md).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _pump(index: int, stream, out) -> None:
    for line in iter(stream.readline, ""):
        out.write(f"[{index}] {line}")
        out.flush()


def launch(num_processes: int, devices_per_process: int, args: list[str],
           module: str = "launch.train", port: int | None = None,
           env: dict | None = None) -> int:
    """Runs the processes to completion; returns the job's exit status."""
    port = port or free_port()
    base_env = dict(os.environ if env is None else env)
    flags = base_env.get("XLA_FLAGS", "")
    base_env["XLA_FLAGS"] = (f"{flags} --xla_force_host_platform_device_count="
                             f"{devices_per_process}").strip()
    base_env.setdefault("JAX_PLATFORMS", "cpu")
    procs = []
    for index in range(num_processes):
        command = [sys.executable, "-m", module, *args, f"--coordinator_address=localhost:{port}",
                   f"--process_count={num_processes}", f"--process_index={index}"]
        proc = subprocess.Popen(command, env=base_env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=_pump, args=(index, proc.stdout, sys.stdout), daemon=True).start()
        procs.append(proc)

    def forward(signum, frame):
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    status = 0
    try:
        remaining = set(range(num_processes))
        while remaining:
            for index in list(remaining):
                try:
                    code = procs[index].wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    continue
                remaining.discard(index)
                if code != 0 and status == 0:
                    status = code
                    print(f"process {index} exited with {code}; stopping the others",
                          file=sys.stderr)
                    for other in remaining:
                        procs[other].terminate()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launch.local_multiprocess",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--num_processes", type=int, default=2)
    parser.add_argument("--devices_per_process", type=int, default=1)
    parser.add_argument("--module", default="launch.train",
                        help="entry point to run (launch.train or launch.eval)")
    parser.add_argument("--port", type=int, default=None, help="coordinator port (default: free)")
    parser.add_argument("args", nargs=argparse.REMAINDER,
                        help="arguments of the entry point, after --")
    args = parser.parse_args(argv)
    forwarded = args.args[1:] if args.args[:1] == ["--"] else args.args
    return launch(args.num_processes, args.devices_per_process, forwarded, args.module, args.port)


if __name__ == "__main__":
    sys.exit(main())
