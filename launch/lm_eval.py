"""Benchmark evaluation of a checkpoint with lm-evaluation-harness, on the JAX model.

    python -m launch.lm_eval --checkpoint=runs/tiny --vocabulary=demo_out/tokenizer/spm.model \
        --tasks=hellaswag,lambada_openai --num_fewshot=0 --batch_size=16 \
        --output_path=runs/tiny/lm_eval --log_samples

Our flags pick the model: `--checkpoint` (a MODEL_DIR, whose newest verified checkpoint is used,
or one checkpoint_<step> folder), `--vocabulary` (its spm.model), optionally `--gin_file` (default:
the run's config.gin), `--max_length`, `--max_gen_toks`, `--dtype`. Every other flag is
lm-eval's own (`--tasks --num_fewshot --limit --include_path --batch_size --output_path
--log_samples --seed` ...): they go to lm-eval's `run` command unchanged, with
`--model palm_jax` (launch/evaluation/lm_eval_backend.py), so the results and samples files are
lm-eval's usual ones. On several hosts every process runs this command; each scores its slice of
every batch, and only process 0 writes files.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from pipeline import console

log = logging.getLogger("launch")

OUR_FLAGS = ("checkpoint", "vocabulary", "gin_file", "gin_bindings", "max_length",
             "max_gen_toks", "dtype")


def parser() -> argparse.ArgumentParser:
    from launch.cli import flags

    p = flags.add_flags(argparse.ArgumentParser(
        prog="python -m launch.lm_eval", description=__doc__.split("\n")[0], allow_abbrev=False,
        epilog="All other flags are lm-eval's (see `lm-eval run --help`)."))
    p.add_argument("--checkpoint", required=True,
                   help="a MODEL_DIR (its newest verified checkpoint) or a checkpoint_<step> "
                        "folder")
    p.add_argument("--vocabulary", required=True, help="the SentencePiece model (spm.model)")
    p.add_argument("--max_length", type=int, default=None,
                   help="context length in tokens (default: the run's training length)")
    p.add_argument("--max_gen_toks", type=int, default=256,
                   help="tokens generated at most when a task does not say (lm-eval's 256)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                   help="computation dtype (parameters stay as stored)")
    return p


def _check_inputs(args: argparse.Namespace) -> None:
    """Cheap checks before lm-eval starts, so that a wrong path fails in a second."""
    if not os.path.exists(args.checkpoint):
        raise FileNotFoundError(f"--checkpoint {args.checkpoint!r} does not exist")
    if not os.path.isfile(args.vocabulary):
        raise FileNotFoundError(f"--vocabulary {args.vocabulary!r} is not a file (give the "
                                "spm.model of pipeline.train_tokenizer)")
    for gin_file in args.gin_file:
        if not os.path.isfile(gin_file):
            raise FileNotFoundError(f"--gin_file {gin_file!r} is not a file")
    if args.max_length is not None and args.max_length < 2:
        raise ValueError(f"--max_length must be >= 2, got {args.max_length}")


def lm_eval_argv(args: argparse.Namespace, rest: list[str]) -> list[str]:
    """lm-eval `run` flags: the user's, plus the palm_jax model and its arguments; processes
    other than 0 write no files."""
    for flag in rest:
        name = flag.split("=")[0]
        if name in ("--model", "--model_args"):
            raise ValueError(f"{name}: the model is given by --checkpoint and --vocabulary here")
    model_args = {k: getattr(args, k) for k in OUR_FLAGS if getattr(args, k) not in (None, [])}
    del model_args["checkpoint"]
    model_args["pretrained"] = os.path.abspath(args.checkpoint)  # lm-eval names results by it
    model_args["vocabulary"] = os.path.abspath(args.vocabulary)
    import jax

    if jax.process_index() != 0:  # lm-eval refuses --log_samples without --output_path
        rest = [a for a in _without(rest, "--output_path") if a != "--log_samples"]
    return ["run", "--model", "palm_jax", "--model_args", json.dumps(model_args), *rest]


def _without(argv: list[str], flag: str) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == flag:
            skip = True
        elif not item.startswith(flag + "="):
            out.append(item)
    return out


def main(argv: list[str] | None = None) -> int:
    from launch.cli import flags, multihost

    argv = flags.normalise_argv(sys.argv[1:] if argv is None else argv)
    args, rest = parser().parse_known_args(argv)
    console.log_to_console("%(asctime)s %(levelname)s %(message)s", logging.INFO)
    try:
        multihost.initialize(args)
    except multihost.MultihostFlagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from lm_eval._cli import HarnessCLI

    from launch import gin_utils
    from launch.evaluation import lm_eval_backend  # noqa: F401  (registers palm_jax)
    from launch.run.checksums import CheckpointCorrupt

    try:
        _check_inputs(args)
        harness = HarnessCLI()
        lm_args = harness._parser.parse_args(lm_eval_argv(args, rest))
        harness.execute(lm_args)
    except SystemExit as e:  # argparse of lm-eval: its message is printed already
        return 2 if e.code not in (0, None) else 0
    except CheckpointCorrupt as e:
        print(f"error: --checkpoint {args.checkpoint!r} is damaged: {e}", file=sys.stderr)
        return 2
    except (FileNotFoundError, gin_utils.GinConfigError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
