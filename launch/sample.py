"""Sample text from a trained checkpoint, given prompts.

    python -m launch.sample --gin_file=runs/tiny/config.gin \
        --checkpoint=runs/tiny --vocabulary=demo_out/tokenizer/spm.model \
        --prompt="The history of" --prompt="def fibonacci(" --max_new_tokens=64

`--gin_file` takes the run's own `MODEL_DIR/config.gin` (the model and optimizer exactly as
trained), or a model file (gin/models/palm_*.gin) with bindings, like every other entry point.
`--checkpoint` is a `checkpoint_<step>` folder or a MODEL_DIR, whose latest checkpoint is used.
Prompts are encoded with the SentencePiece vocabulary, decoded with a KV cache (model/decoding.py)
that never emits the padding ids past the vocabulary's last piece, and the results are printed
and, with `--output`, written as JSON. The same seed, prompts and settings give the same text.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from launch import gin_utils
from launch.evaluation import restore
from launch.run import checkpoints as ckpt_lib
from launch.run import paths
from launch.utils import RestoreCheckpointConfig
from model import decoding
from model.config import PalmConfig
from pipeline import console

log = logging.getLogger("launch")


def checkpoint_path(path: str) -> str:
    """A `checkpoint_<step>` folder as given, or the latest one inside a MODEL_DIR."""
    found = ckpt_lib.resolve_initial(RestoreCheckpointConfig(path=[path], mode="latest"))
    if found is None:
        raise FileNotFoundError(f"--checkpoint {path!r}: no checkpoint there")
    return found


def load_params(path: str, config: PalmConfig):
    """The parameters and step of the checkpoint at `path` (launch/evaluation/restore.py)."""
    params, step, _ = restore.load_params(path, config)
    return params, step


def sample(params, config: PalmConfig, vocabulary, prompts: list[str], *, max_new_tokens: int,
           temperature: float, top_k: int, seed: int, timing: dict | None = None) -> list[dict]:
    """Generates a continuation for every prompt in one batch; returns prompt/completion dicts.

    `timing`, when given, receives compile_seconds, generate_seconds, generated_tokens and
    tokens_per_second (generated tokens over the decoding time, compilation excluded)."""
    timing = {} if timing is None else timing
    encoded = [list(vocabulary.encode(p)) or [config.eos_id] for p in prompts]
    width = max(len(e) for e in encoded)
    tokens = np.zeros((len(encoded), width), np.int32)
    for row, ids in enumerate(encoded):
        tokens[row, :len(ids)] = ids
    lengths = np.array([len(e) for e in encoded], np.int32)
    start = time.perf_counter()
    run = decoding.compile_generate(params, config, jnp.asarray(tokens), jnp.asarray(lengths),
                                    max_new_tokens=max_new_tokens, temperature=temperature,
                                    top_k=top_k, vocab_size=vocabulary.vocab_size)
    compiled = time.perf_counter()
    out = run(jax.random.PRNGKey(seed))
    generated, counts = jax.device_get(out.tokens), jax.device_get(out.num_tokens)
    seconds = time.perf_counter() - compiled
    timing.update(compile_seconds=compiled - start, generate_seconds=seconds,
                  generated_tokens=int(counts.sum()),
                  tokens_per_second=float(counts.sum()) / max(seconds, 1e-9))
    log.info("generated %d tokens in %.3f s: %.1f tokens/s (prefill and decoding of %d prompts; "
             "compilation %.1f s not included)", timing["generated_tokens"], seconds,
             timing["tokens_per_second"], len(prompts), timing["compile_seconds"])
    results = []
    for prompt, row, n in zip(prompts, generated, counts):
        ids = [int(t) for t in row[:int(n)] if int(t) != config.eos_id]
        results.append({"prompt": prompt, "completion": vocabulary.decode(ids),
                        "tokens": int(n)})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = gin_utils.add_flags(argparse.ArgumentParser(
        prog="python -m launch.sample", description=__doc__.split("\n")[0]))
    parser.add_argument("--checkpoint", required=True,
                        help="a checkpoint_<step> folder, or a MODEL_DIR (its latest checkpoint)")
    parser.add_argument("--vocabulary", required=True,
                        help="the SentencePiece model (spm.model), or 'byte' for seqio's "
                             "ByteVocabulary")
    parser.add_argument("--prompt", action="append", required=True, help="repeatable")
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.8, help="0 is greedy")
    parser.add_argument("--top_k", type=int, default=40, help="0 keeps every token")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=None, help="write the samples here as JSON")
    args = gin_utils.parse_flags(parser, sys.argv[1:] if argv is None else argv)
    console.log_to_console("%(asctime)s %(levelname)s %(message)s", logging.INFO)
    import seqio  # after flag parsing: --help stays fast

    try:
        gin_utils.parse_gin(args.gin_file, args.gin_bindings, args.gin_search_paths,
                            finalize=False)
        path = checkpoint_path(args.checkpoint)
        if args.vocabulary == "byte":
            vocabulary = seqio.ByteVocabulary()
        elif os.path.exists(args.vocabulary):
            vocabulary = seqio.SentencePieceVocabulary(args.vocabulary)
        else:
            raise FileNotFoundError(f"--vocabulary {args.vocabulary!r} does not exist (give the "
                                    "spm.model of pipeline.train_tokenizer, or 'byte')")
        config = PalmConfig()
        if vocabulary.vocab_size > config.vocab_size:
            raise ValueError(f"the vocabulary has {vocabulary.vocab_size} ids but the model's "
                             f"PalmConfig.vocab_size is {config.vocab_size}")
        params, step = load_params(path, config)
    except (gin_utils.GinConfigError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    timing = {}
    results = sample(params, config, vocabulary, args.prompt, max_new_tokens=args.max_new_tokens,
                     temperature=args.temperature, top_k=args.top_k, seed=args.seed,
                     timing=timing)
    record = {"checkpoint": path, "step": step, "temperature": args.temperature,
              "top_k": args.top_k, "seed": args.seed, "timing": timing, "samples": results}
    for r in results:
        print(f"--- prompt: {r['prompt']!r}\n{r['prompt']}{r['completion']}\n")
    print(f"{timing['generated_tokens']} tokens in {timing['generate_seconds']:.3f} s: "
          f"{timing['tokens_per_second']:.1f} tokens/s (compilation "
          f"{timing['compile_seconds']:.1f} s not included)")
    if args.output:
        paths.write_text_atomic(paths.resolve(args.output),
                                json.dumps(record, indent=2, ensure_ascii=False))
        print(f"samples written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
