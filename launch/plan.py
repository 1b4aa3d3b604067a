"""Size and cost of a model configuration, without building it.

    python -m launch.plan --gin_file=gin/models/palm_540b.gin
        [--gin_bindings='PalmConfig.num_layers = 4'] [--gin.PalmConfig.num_layers=4]
        [--gin_search_paths=dir1,dir2] [--seq_len=2048] [--json]

Prints the parameter count (from `jax.eval_shape`, nothing allocated) and the model FLOPs per
training token, 6N + 12 L H Q T (PaLM App. B). The math lives in model/flops.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import gin

from model import flops
from model.config import PalmConfig


def rewrite_gin_args(argv: list[str]) -> list[str]:
    """t5x's shorthand: `--gin.NAME=VALUE` becomes `--gin_bindings=NAME = VALUE`."""
    rewritten = []
    for arg in argv:
        if arg.startswith("--gin.") and "=" in arg:
            name, value = arg[len("--gin."):].split("=", 1)
            rewritten.append(f"--gin_bindings={name} = {value}")
        else:
            rewritten.append(arg)
    return rewritten


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m launch.plan",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--gin_file", action="append", default=[],
                        help="gin file with the model's PalmConfig bindings (repeatable; later "
                             "files override earlier ones)")
    parser.add_argument("--gin_bindings", action="append", default=[],
                        help="a gin binding such as 'PalmConfig.num_layers = 4' (repeatable)")
    parser.add_argument("--gin_search_paths", default="",
                        help="comma-separated directories in which to look for gin files")
    parser.add_argument("--seq_len", type=int, default=flops.PALM_SEQ_LEN,
                        help="sequence length T of the attention FLOPs term (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(rewrite_gin_args(argv))
    if not args.gin_file and not args.gin_bindings:
        parser.error("give at least one --gin_file (e.g. gin/models/palm_8b.gin) or --gin_bindings")
    return args


def plan(config: PalmConfig, seq_len: int = flops.PALM_SEQ_LEN) -> dict:
    """Everything the command prints, as a dict."""
    breakdown = flops.param_breakdown(config)
    per_token = flops.flops_per_token(config, seq_len, num_params=breakdown["total"])
    return {
        "config": dataclasses.asdict(config),
        "params": breakdown["total"],
        "params_breakdown": breakdown,
        # PaLM's Table 1 figures (8.63B, 62.50B, 540.35B) are this count rounded; the total above
        # differs from them by under 0.01B (the layer-norm scales).
        "params_excluding_layer_norm": breakdown["total"] - breakdown["layer_norm"],
        "seq_len": seq_len,
        "flops_per_token": per_token,
        "attention_flops_per_token": flops.attention_flops_per_token(config, seq_len),
        "tflops_per_token": per_token / 1e12,
    }


def _human(count: int) -> str:
    return f"{count / 1e9:.2f}B" if count >= 1e9 else f"{count / 1e6:.2f}M"


def _table(report: dict) -> str:
    cfg, parts = report["config"], report["params_breakdown"]
    rows = [
        ("layers / heads / d_model",
         f"{cfg['num_layers']} / {cfg['num_heads']} / {cfg['d_model']}"),
        ("head_dim / d_ff / vocab",
         f"{cfg['head_dim']} / {cfg['d_ff'] or 4 * cfg['d_model']} / {cfg['vocab_size']}"),
        ("params", f"{report['params']:,} ({_human(report['params'])})"),
        *[(f"  {part}", f"{count:,}") for part, count in parts.items() if part != "total"],
        ("params excl. layer norms", f"{report['params_excluding_layer_norm']:,} "
                                     f"({_human(report['params_excluding_layer_norm'])})"),
        ("seq_len", f"{report['seq_len']}"),
        ("flops per token", f"{report['flops_per_token']:.4e} "
                            f"({report['tflops_per_token']:.4g} TFLOPs)"),
        ("  of which attention", f"{report['attention_flops_per_token']:.4e}"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    for path in filter(None, args.gin_search_paths.split(",")):
        gin.add_config_file_search_path(path)
    gin.parse_config_files_and_bindings(args.gin_file, args.gin_bindings)
    report = plan(PalmConfig(), args.seq_len)
    print(json.dumps(report, indent=2) if args.json else _table(report))


if __name__ == "__main__":
    main()
