"""The newcomer's first command (`make demo`): the main job, end to end, on embedded data.

Each step runs the same command a user would type (printed before it runs), so the demo is
also a worked example of BUILD.md. Steps so far:
  1. generate the embedded default raw corpus         python -m pipeline.demo_corpus
  2. clean and filter it with the Beam prep job       python -m pipeline.prep
  3. train the SentencePiece vocabulary (PaLM's rules) python -m pipeline.train_tokenizer
  4. tokenize and cache the seqio mixture with Beam   python -m tasks.cache
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
    parser.add_argument("--vocab_size", type=int, default=4000,
                        help="SentencePiece pieces for the demo (PaLM's production size: 256000)")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.output_dir)
    raw, prep = os.path.join(out, "raw"), os.path.join(out, "prep")
    tokenizer, cache = os.path.join(out, "tokenizer"), os.path.join(out, "cache")
    spec = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "tasks", "specs", "palm_demo.yaml")

    timings = {
        "corpus": _run("1/4 generating the embedded default corpus",
                       ["pipeline.demo_corpus", "--output_dir", raw, "--size_mb",
                        str(args.size_mb), "--seed", str(args.seed)]),
        "prep": _run("2/4 cleaning and filtering it (Beam, DirectRunner multi-processing)",
                     ["pipeline.prep", "--sources", os.path.join(raw, "sources.yaml"),
                      "--output_dir", prep]),
        "tokenizer": _run("3/4 training the SentencePiece vocabulary on a weighted sample",
                          ["pipeline.train_tokenizer", "--data_dir", prep, "--vocab_size",
                           str(args.vocab_size), "--output_dir", tokenizer,
                           "--mixture_spec", spec]),
        "cache": _run("4/4 tokenizing and caching the seqio mixture (seqio's Beam cache job)",
                      ["tasks.cache", "--spec", spec, "--data_dir", prep, "--vocabulary",
                       os.path.join(tokenizer, "spm.model"), "--output_cache_dir", cache]),
    }
    print("\n==> done in " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    print(f"raw corpus:        {raw}/ (sources.yaml is its spec, ground_truth.json what was planted)")
    print(f"clean shards:      {prep}/<source>/train-*.tfrecord, validation-*.tfrecord")
    print(f"per-source audit:  {prep}/<source>/manifest.json, rejected-*.jsonl.gz, "
          "dead_letters.jsonl.gz")
    print(f"report:            {prep}/report.html (open it in a browser), report.json")
    print(f"vocabulary:        {tokenizer}/spm.model, spm.vocab, manifest.json")
    print(f"seqio cache:       {cache}/palm_demo.<source>/ (Tasks and Mixture 'palm_demo' from "
          f"{os.path.relpath(spec)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
