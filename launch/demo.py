"""The newcomer's first command (`make demo`): the main job, end to end, on embedded data.

Each step runs the same command a user would type (printed before it runs), so the demo is
also a worked example of BUILD.md. Steps so far:
  1. generate the embedded default raw corpus         python -m launch.demo_corpus
  2. clean and filter it with the Beam prep job       python -m pipeline.prep
  3. train the SentencePiece vocabulary (PaLM's rules) python -m pipeline.train_tokenizer
  4. tokenize and cache the seqio mixture with Beam   python -m tasks.cache
  5. materialise the training stream (Beam): packed,  python -m tasks.materialize
     globally shuffled, token-weighted rows
  6. train a tiny PaLM on the stream (t5x gin files)   python -m launch.train
  7. sample text from the trained checkpoint           python -m launch.sample
  8. export it as a transformers folder (Cohere)       python -m launch.export_hf
  9. score it on the shipped lm-eval tasks (JAX)       python -m launch.lm_eval
 10. write the run report (one offline HTML page)      python -m launch.run_report
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LM_EVAL_TASKS = "demo_python_mc,demo_prose_ppl,demo_code_gen"  # tasks/lm_eval/, our own writing


def _run(step: str, args: list[str], env: dict[str, str] | None = None,
         cwd: str | None = None) -> float:
    command = [sys.executable, "-m", *args]
    shown = [f"{k}={v}" for k, v in (env or {}).items()] + ["python", "-m", *args]
    print(f"\n==> {step}\n$ {shlex.join(shown)}", flush=True)
    started = time.time()
    subprocess.run(command, check=True, env={**os.environ, **(env or {})}, cwd=cwd)
    return time.time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launch.demo", description=__doc__)
    parser.add_argument("--output_dir", default="demo_out")
    parser.add_argument("--size_mb", type=float, default=8.0,
                        help="approximate size of the generated raw corpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vocab_size", type=int, default=4000,
                        help="SentencePiece pieces for the demo (PaLM's production size: 256000)")
    parser.add_argument("--train_steps", type=int, default=400)
    parser.add_argument("--model_gin", default="gin/models/palm_tiny.gin")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.output_dir)
    raw, prep = os.path.join(out, "raw"), os.path.join(out, "prep")
    tokenizer, cache = os.path.join(out, "tokenizer"), os.path.join(out, "cache")
    model_dir, samples = os.path.join(out, "runs", "tiny"), os.path.join(out, "samples.json")
    stream = os.path.join(out, "stream")
    vocab_file, report_file = os.path.join(tokenizer, "spm.model"), os.path.join(out, "report.html")
    export_dir, lm_eval_dir = os.path.join(out, "hf"), os.path.join(out, "lm_eval")
    # The model's embedding covers the vocabulary, rounded up to a multiple of 128 (TPU lanes).
    model_vocab = -(-args.vocab_size // 128) * 128
    seq_len, batch_size = 256, 8
    spec = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "tasks", "specs", "palm_demo.yaml")

    timings = {
        "corpus": _run("1/10 generating the embedded default corpus",
                       ["launch.demo_corpus", "--output_dir", raw, "--size_mb",
                        str(args.size_mb), "--seed", str(args.seed)]),
        "prep": _run("2/10 cleaning and filtering it (Beam, DirectRunner multi-processing)",
                     ["pipeline.prep", "--sources", os.path.join(raw, "sources.yaml"),
                      "--output_dir", prep]),
        "tokenizer": _run("3/10 training the SentencePiece vocabulary on a weighted sample",
                          ["pipeline.train_tokenizer", "--data_dir", prep, "--vocab_size",
                           str(args.vocab_size), "--output_dir", tokenizer,
                           "--mixture_spec", spec]),
        "cache": _run("4/10 tokenizing and caching the seqio mixture (seqio's Beam cache job)",
                      ["tasks.cache", "--spec", spec, "--data_dir", prep, "--vocabulary",
                       vocab_file, "--output_cache_dir", cache]),
        # Rows for the run plus two loss-spike recoveries (each skips 200 batches by default).
        "stream": _run("5/10 materialising the training stream (Beam): packed rows, globally "
                       "shuffled, token-weighted",
                       ["tasks.materialize", "--spec", spec, "--data_dir", prep, "--vocabulary",
                        vocab_file, "--cache_dir", cache, "--sequence_length", str(seq_len),
                        "--batch_size", str(batch_size), "--steps",
                        str(args.train_steps + 400), "--seed", str(args.seed),
                        "--output_dir", stream, "--overwrite"]),
        "train": _run(f"6/10 training a tiny PaLM for {args.train_steps} steps on the stream "
                      "(t5x gin interface)",
                      ["launch.train", "--gin_file=gin/runs/pretrain.gin",
                       f"--gin_file={args.model_gin}",
                       f"--gin.MODEL_DIR='{model_dir}'",
                       "--gin.MIXTURE_OR_TASK_NAME='palm_demo'",
                       "--gin.MIXTURE_OR_TASK_MODULE='tasks.from_env'",
                       f"--gin.TRAIN_STEPS={args.train_steps}",
                       f"--gin.TASK_FEATURE_LENGTHS={{'targets': {seq_len}}}",
                       f"--gin.TRAIN_STREAM='{stream}'",
                       f"--gin.BATCH_SIZE={batch_size}",
                       f"--gin.PalmConfig.vocab_size={model_vocab}",
                       f"--gin.RANDOM_SEED={args.seed}",
                       f"--gin.utils.SaveCheckpointConfig.period={max(1, args.train_steps // 4)}",
                       "--gin.utils.SaveCheckpointConfig.keep=2",
                       f"--gin.train_script.train.eval_period={max(1, args.train_steps // 8)}",
                       "--gin.train_script.train.eval_steps=4",
                       f"--seqio_additional_cache_dirs={cache}"],
                      env={"PALM_TASKS_SPEC": spec, "PALM_TASKS_DATA_DIR": prep,
                           "PALM_TASKS_VOCABULARY": vocab_file}),
        "sample": _run("7/10 sampling from the trained model",
                       ["launch.sample", f"--gin_file={os.path.join(model_dir, 'config.gin')}",
                        f"--checkpoint={model_dir}", f"--vocabulary={vocab_file}",
                        "--prompt=The history of the", "--prompt=def parse_args(",
                        "--prompt=User: How do I", "--max_new_tokens=48",
                        f"--seed={args.seed}", f"--output={samples}"]),
        "export": _run("8/10 exporting the trained model for transformers (Cohere architecture)",
                       ["launch.export_hf", f"--checkpoint={model_dir}",
                        f"--vocabulary={vocab_file}", f"--output_dir={export_dir}",
                        "--overwrite"]),
        # Run from the repository root: the shipped task YAMLs name their data from there.
        "lm_eval": _run("9/10 scoring it with lm-evaluation-harness on the shipped tasks (the "
                        "JAX backend)",
                        ["launch.lm_eval", f"--checkpoint={model_dir}",
                         f"--vocabulary={vocab_file}", "--include_path=tasks/lm_eval",
                         f"--tasks={LM_EVAL_TASKS}", "--batch_size=16",
                         f"--output_path={lm_eval_dir}", "--log_samples", "--seed=0"],
                        cwd=ROOT),
        "report": _run("10/10 writing the run report",
                       ["launch.run_report", f"--prep_dir={prep}", f"--model_dir={model_dir}",
                        f"--lm_eval_dir={lm_eval_dir}", f"--export_dir={export_dir}",
                        f"--samples={samples}", f"--mixture_spec={spec}",
                        f"--mixture_data_dir={prep}", f"--mixture_vocabulary={vocab_file}",
                        f"--output={report_file}"]),
    }
    print("\n==> done in " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    print(f"raw corpus:        {raw}/ (sources.yaml is its spec, ground_truth.json what was "
          "planted)")
    print(f"clean shards:      {prep}/<source>/train-*.tfrecord, validation-*.tfrecord")
    print(f"per-source audit:  {prep}/<source>/manifest.json, rejected-*.jsonl.gz, "
          "dead_letters.jsonl.gz")
    print(f"report:            {prep}/report.html (open it in a browser), report.json")
    print(f"vocabulary:        {tokenizer}/spm.model, spm.vocab, manifest.json")
    print(f"seqio cache:       {cache}/palm_demo.<source>/ (Tasks and Mixture 'palm_demo' from "
          f"{os.path.relpath(spec)})")
    print(f"training stream:   {stream}/ (rows-*.array_record, manifest.json: rows, tokens, "
          "epochs and share per source)")
    print(f"training run:      {model_dir}/ (checkpoint_<step>/, metrics.jsonl, config.gin, "
          "model-info.txt, train/ TensorBoard events)")
    print(f"samples:           {samples}")
    print(f"transformers:      {export_dir}/ (AutoModelForCausalLM.from_pretrained; the "
          "tokenizer needs trust_remote_code=True)")
    print(f"benchmark scores:  {lm_eval_dir}/<run>/results_*.json, samples_*.jsonl (lm-eval's "
          "files)")
    print(f"run report:        {report_file} (open it in a browser)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
