"""Requests per second of launch.lm_eval's palm_jax backend against lm-eval's `hf` backend on the
exported model (launch.export_hf), same CPU, same process, same requests.

    python benchmarks/bench_lm_eval.py --work_dir /tmp/bench_lm_eval --rounds 3

A tiny run is trained (palm_tiny, 2 layers, a few steps: throughput does not depend on what the
weights learned), a SentencePiece vocabulary made, and the run exported. The requests are lm-eval
Instances: `--loglikelihood` (context, continuation) pairs of mixed lengths (5 to ~120 tokens)
and `--generate` greedy generations (stop at ".", at most 24 tokens). Each backend answers them
once to warm up (XLA compiles, torch allocates), then A and B alternate for `--rounds` rounds;
wall and process CPU seconds per round, requests/s from the median round. The largest absolute
loglikelihood difference and the number of identical generations are recorded too.
Writes benchmarks/results/lm_eval_vs_hf.json (date, machine, load average).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import random
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_model  # noqa: E402


def build(work: str, steps: int, max_length: int) -> dict:
    """The run, vocabulary and export under `work` (reused when already there)."""
    from launch import export_hf
    from tests import lm_eval_fixtures

    run, hf = os.path.join(work, "run"), os.path.join(work, "hf")
    vocabulary = os.path.join(work, "tok", "spm.model")
    if not os.path.exists(vocabulary):
        lm_eval_fixtures.train_vocabulary(os.path.dirname(vocabulary))
    if not os.path.exists(os.path.join(run, "config.gin")):
        old = os.getcwd()
        os.chdir(ROOT)
        try:
            lm_eval_fixtures.train_run(run, os.path.join(work, "train_tasks"), steps=steps,
                                       layers=2)
        finally:
            os.chdir(old)
    if not os.path.exists(os.path.join(hf, "config.json")):
        assert export_hf.main([f"--checkpoint={run}", f"--vocabulary={vocabulary}",
                               f"--output_dir={hf}",
                               f"--max_position_embeddings={max_length}"]) == 0
    return {"run": run, "hf": hf, "vocabulary": vocabulary}


def requests(n_loglikelihood: int, n_generate: int, seed: int = 0):
    from lm_eval.api.instance import Instance

    from tests import lm_eval_fixtures

    rng = random.Random(seed)
    text = lm_eval_fixtures.sentences(seed + 10, 4000)
    ll = []
    for i in range(n_loglikelihood):
        context = " ".join(rng.sample(text, rng.choice([1, 1, 2, 3, 5, 8])))
        continuation = " " + rng.choice(text)
        ll.append(Instance("loglikelihood", {}, (context, continuation), i))
    gen = [Instance("generate_until", {}, (" ".join(rng.sample(text, rng.choice([1, 2, 4]))),
                                           {"until": ["."], "max_gen_toks": 24,
                                            "do_sample": False}), i)
           for i in range(n_generate)]
    return ll, gen


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work_dir", default="/tmp/bench_lm_eval")
    p.add_argument("--loglikelihood", type=int, default=300)
    p.add_argument("--generate", type=int, default=24)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--max_length", type=int, default=256)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--output", default=str(ROOT / "benchmarks/results/lm_eval_vs_hf.json"))
    args = p.parse_args(argv)
    import jax

    jax.config.update("jax_platforms", "cpu")
    load_at_start = list(os.getloadavg())
    paths = build(args.work_dir, args.steps, args.max_length)
    from lm_eval.models.huggingface import HFLM

    from launch.evaluation.lm_eval_backend import PalmJaxLM

    ours = PalmJaxLM(pretrained=paths["run"], vocabulary=paths["vocabulary"],
                     max_length=args.max_length, batch_size=args.batch_size)
    hf = HFLM(pretrained=paths["hf"], trust_remote_code=True, dtype="float32", device="cpu",
              max_length=args.max_length, batch_size=args.batch_size)
    ll, gen = requests(args.loglikelihood, args.generate)
    backends = {"palm_jax": ours, "hf": hf}
    answers, rounds = {}, {name: [] for name in backends}
    for name, lm in backends.items():  # warm-up: compilation and allocation, not timed
        answers[name] = (lm.loglikelihood(ll, disable_tqdm=True),
                         lm.generate_until(gen, disable_tqdm=True))
    for r in range(args.rounds):
        for name in (list(backends) if r % 2 == 0 else list(backends)[::-1]):
            lm = backends[name]
            w1, c1, _ = timed(lambda lm=lm: lm.loglikelihood(ll, disable_tqdm=True))
            w2, c2, _ = timed(lambda lm=lm: lm.generate_until(gen, disable_tqdm=True))
            rounds[name].append({"loglikelihood_wall_s": w1, "loglikelihood_cpu_s": c1,
                                     "generate_wall_s": w2, "generate_cpu_s": c2})
    result = {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
              "machine": bench_model.machine(), "load_average_at_start": load_at_start,
              "model": "palm_tiny (2 layers, d_model 64, vocab 512), float32, CPU",
              "requests": {"loglikelihood": len(ll), "generate_until": len(gen),
                           "max_gen_toks": 24, "batch_size": args.batch_size,
                           "max_length": args.max_length},
              "rounds": rounds, "backends": {}}
    for name in backends:
        per = rounds[name]
        med = {k: statistics.median(x[k] for x in per) for k in per[0]}
        total_wall = med["loglikelihood_wall_s"] + med["generate_wall_s"]
        result["backends"][name] = {
            "median": med,
            "loglikelihood_requests_per_s": len(ll) / med["loglikelihood_wall_s"],
            "generate_requests_per_s": len(gen) / med["generate_wall_s"],
            "all_requests_per_s": (len(ll) + len(gen)) / total_wall,
            "all_requests_per_cpu_s": (len(ll) + len(gen)) /
            (med["loglikelihood_cpu_s"] + med["generate_cpu_s"])}
    a, b = result["backends"]["palm_jax"], result["backends"]["hf"]
    result["speedup"] = {k: a[k] / b[k] for k in a if k.endswith("_s")}
    result["max_abs_loglikelihood_difference"] = max(
        abs(x[0] - y[0]) for x, y in zip(answers["palm_jax"][0], answers["hf"][0]))
    result["greedy_flags_identical"] = sum(
        x[1] == y[1] for x, y in zip(answers["palm_jax"][0], answers["hf"][0]))
    result["generations_identical"] = sum(
        x == y for x, y in zip(answers["palm_jax"][1], answers["hf"][1]))
    result["load_average_at_end"] = list(os.getloadavg())
    result["cpu_count"] = os.cpu_count()
    pathlib.Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("speedup", "max_abs_loglikelihood_difference",
                                            "generations_identical")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
