"""The newcomer's first command (`make demo`): the main job, end to end, on embedded data.

Each step runs the same command a user would type (printed before it runs), so the demo is
also a worked example of BUILD.md. Steps so far:
  1. generate the embedded default raw corpus     python -m pipeline.demo_corpus
  2. clean and filter it with the Beam prep job   python -m pipeline.prep
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time


def _run(step: str, args: list[str]) -> float:
    command = [sys.executable, "-m", *args]
    print(f"\n==> {step}\n$ {shlex.join(['python', '-m', *args])}", flush=True)
    started = time.time()
    subprocess.run(command, check=True)
    return time.time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launch.demo", description=__doc__)
    parser.add_argument("--output_dir", default="demo_out")
    parser.add_argument("--size_mb", type=float, default=8.0,
                        help="approximate size of the generated raw corpus")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    out = os.path.abspath(args.output_dir)
    raw, prep = os.path.join(out, "raw"), os.path.join(out, "prep")

    timings = {
        "corpus": _run("1/2 generating the embedded default corpus",
                       ["pipeline.demo_corpus", "--output_dir", raw, "--size_mb",
                        str(args.size_mb), "--seed", str(args.seed)]),
        "prep": _run("2/2 cleaning and filtering it (Beam, DirectRunner multi-processing)",
                     ["pipeline.prep", "--sources", os.path.join(raw, "sources.yaml"),
                      "--output_dir", prep]),
    }
    print("\n==> done in " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    print(f"raw corpus:        {raw}/ (sources.yaml is its spec, ground_truth.json what was planted)")
    print(f"clean shards:      {prep}/<source>/train-*.tfrecord, validation-*.tfrecord")
    print(f"per-source audit:  {prep}/<source>/manifest.json, rejected-*.jsonl.gz, "
          "dead_letters.jsonl.gz")
    print(f"report:            {prep}/report.html (open it in a browser), report.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
