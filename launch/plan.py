"""Size and cost of a model configuration, without building it: a capacity plan.

    python -m launch.plan --gin_file=gin/models/palm_540b.gin
        [--gin_bindings='PalmConfig.num_layers = 4'] [--gin.PalmConfig.num_layers=4]
        [--gin_search_paths=dir1,dir2] [--seq_len=2048] [--json]
        [--accelerator tpu_v4 --num_devices 6144 (--mesh data=512,model=12 | --num_partitions 12)
         --logical_axis_rules standard|fully_sharded --batch_size 2048 --num_microbatches 1
         --param_dtype float32 --compute_dtype bfloat16 --optimizer adafactor|adamw
         --remat none|minimal|full --mfu 0.45 --token_budget 780e9
         --measured_tokens_per_s 238.3e3]
        [--mixture SPEC.yaml (--mixture_tokens INSPECT.json | --mixture_cache_dir DIR)
         --max_epochs 1.0]

Always: the parameter count (from `jax.eval_shape`, nothing allocated) and the model FLOPs per
training token, 6N + 12 L H Q T (PaLM App. B). With --accelerator: memory per device
(parameters, gradients, optimizer state, activations under each remat policy; model/memory.py
states the formulas and their assumptions), and a warning when it exceeds the accelerator's
memory; tokens/s and days for the token budget at an assumed MFU; the MFU (with and without the
attention term) of a measured tokens/s. With --mixture and --token_budget: how many epochs each
source would be read. The math lives in model/flops.py, model/memory.py and tasks/mixture_stats.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import gin
from launch.gin_utils import rewrite_gin_args
from model import flops, hardware, memory
from model.config import PalmConfig
from model.partitioning import standard_logical_axis_rules

GIB = 1024 ** 3


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
    hw = parser.add_argument_group("hardware and mesh (enabled by --accelerator)")
    hw.add_argument("--accelerator", help=f"one of {', '.join(hardware.ACCELERATORS)}")
    hw.add_argument("--num_devices", type=int, help="chips/GPUs (default: the mesh's product)")
    hw.add_argument("--mesh", help="mesh axis sizes, e.g. data=512,model=12")
    hw.add_argument("--num_partitions", type=int,
                    help="model-parallel ways (t5x's num_partitions); data = devices / this")
    hw.add_argument("--logical_axis_rules", choices=("standard", "fully_sharded"),
                    default="standard",
                    help="t5x's default rules, or PaLM's with parameters also sharded over data")
    hw.add_argument("--batch_size", type=int, help="sequences per step (global)")
    hw.add_argument("--num_microbatches", type=int, default=1)
    hw.add_argument("--param_dtype", help="default: the config's (float32)")
    hw.add_argument("--compute_dtype", default="bfloat16",
                    help="activation dtype and the peak FLOP/s used (default: %(default)s)")
    hw.add_argument("--optimizer", choices=sorted(memory.OPTIMIZER_SLOTS), default="adafactor")
    hw.add_argument("--remat", choices=memory.REMAT_POLICIES,
                    help="remat policy counted in the total (default: the config's)")
    hw.add_argument("--peak_tflops", type=float,
                    help="override the accelerator's peak TFLOP/s per device")
    hw.add_argument("--mfu", type=float, help="assumed MFU for tokens/s and days, e.g. 0.45")
    hw.add_argument("--token_budget", type=float, help="training tokens, e.g. 780e9")
    hw.add_argument("--measured_tokens_per_s", type=float,
                    help="a measured throughput (all devices): gives the MFU")
    mix = parser.add_argument_group("data (with --token_budget)")
    mix.add_argument("--mixture", help="mixture spec (YAML): weights per source")
    mix.add_argument("--mixture_tokens",
                     help="token counts: the JSON of "
                          "`python -m tasks.inspect_mixture SPEC --json`")
    mix.add_argument("--mixture_cache_dir",
                     help="token counts: a seqio cache dir (python -m tasks.cache) of the mixture")
    mix.add_argument("--mixture_split", default="train")
    mix.add_argument("--max_epochs", type=float, default=1.0,
                     help="warn when a source would be read more often than this")
    args = parser.parse_args(rewrite_gin_args(argv))
    if not args.gin_file and not args.gin_bindings:
        parser.error("give at least one --gin_file (e.g. gin/models/palm_8b.gin) or --gin_bindings")
    if args.mixture and not args.token_budget:
        parser.error("--mixture needs --token_budget (the tokens the run draws)")
    if args.mixture and not (args.mixture_tokens or args.mixture_cache_dir):
        parser.error("--mixture needs token counts: --mixture_tokens (tasks.inspect_mixture "
                     "--json output) or --mixture_cache_dir (a seqio cache)")
    needs_hw = [f for f in ("num_devices", "mesh", "num_partitions", "batch_size", "mfu",
                            "measured_tokens_per_s", "peak_tflops") if getattr(args, f)]
    if needs_hw and not args.accelerator:
        parser.error(f"--{needs_hw[0]} needs --accelerator (one of "
                     f"{', '.join(hardware.ACCELERATORS)})")
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


def parse_mesh(text: str) -> dict[str, int]:
    """'data=512,model=12' -> {'data': 512, 'model': 12}."""
    mesh = {}
    for part in filter(None, text.split(",")):
        name, _, size = part.partition("=")
        if name.strip() not in ("data", "model") or not size.strip().isdigit() or int(size) < 1:
            raise memory.PlanError(f"--mesh {text!r}: expected axes data=N,model=M with positive "
                                   f"integers (the mesh axes the logical axis rules map to)")
        mesh[name.strip()] = int(size)
    return {"data": mesh.get("data", 1), "model": mesh.get("model", 1)}


def resolve_mesh(num_devices: int | None, mesh: str | None,
                 num_partitions: int | None) -> tuple[int, dict[str, int]]:
    """(devices, {'data': d, 'model': m}) from whichever of the three flags were given."""
    if mesh and num_partitions:
        raise memory.PlanError("give --mesh or --num_partitions, not both")
    if mesh:
        axes = parse_mesh(mesh)
        product = axes["data"] * axes["model"]
        if num_devices is not None and num_devices != product:
            raise memory.PlanError(f"--mesh {mesh} has {product} devices but --num_devices is "
                                   f"{num_devices}")
        return product, axes
    if num_devices is None:
        raise memory.PlanError("give --num_devices (and --mesh or --num_partitions)")
    partitions = num_partitions or 1
    if num_devices % partitions:
        raise memory.PlanError(f"--num_devices {num_devices} is not divisible by "
                               f"--num_partitions {partitions}")
    return num_devices, {"data": num_devices // partitions, "model": partitions}


def capacity(config: PalmConfig, seq_len: int, *, accelerator: str, num_devices: int | None = None,
             mesh: str | None = None, num_partitions: int | None = None,
             logical_axis_rules: str = "standard", batch_size: int | None = None,
             num_microbatches: int = 1, param_dtype: str | None = None,
             compute_dtype: str = "bfloat16", optimizer: str = "adafactor",
             remat: str | None = None, peak_tflops: float | None = None,
             mfu: float | None = None, token_budget: float | None = None,
             measured_tokens_per_s: float | None = None) -> dict:
    """The hardware part of the plan: memory per device, throughput, MFU, days."""
    chip = hardware.accelerator(accelerator)
    devices, axes = resolve_mesh(num_devices, mesh, num_partitions)
    rules = standard_logical_axis_rules(fully_sharded=logical_axis_rules == "fully_sharded")
    if compute_dtype not in memory.DTYPE_BYTES:
        raise memory.PlanError(f"unknown compute dtype {compute_dtype!r}; known: "
                               f"{sorted(memory.DTYPE_BYTES)}")
    peak = peak_tflops * 1e12 if peak_tflops else (
        chip.peak_fp32_flops if compute_dtype == "float32" else chip.peak_bf16_flops)
    mem = memory.memory_per_device(
        config, mesh=axes, rules=rules, param_dtype=param_dtype or config.param_dtype,
        compute_dtype=compute_dtype, optimizer=optimizer, batch_size=batch_size,
        seq_len=seq_len, remat=remat or config.remat_policy, num_microbatches=num_microbatches)
    mem["hbm_bytes"] = chip.memory_gib * GIB
    mem["exceeds_hbm"] = mem["total"] > mem["hbm_bytes"]
    per_token = flops.flops_per_token(config, seq_len)
    without_attention = per_token - flops.attention_flops_per_token(config, seq_len)
    out = {
        "accelerator": dataclasses.asdict(chip),
        "peak_flops_per_device": peak,
        "num_devices": devices,
        "mesh": axes,
        "logical_axis_rules": logical_axis_rules,
        "batch_size": batch_size,
        "num_microbatches": num_microbatches,
        "memory_per_device": mem,
        "flops_per_token": per_token,
        "flops_per_token_without_attention": without_attention,
    }
    if mfu is not None:
        rate = flops.tokens_per_second_at_mfu(mfu, per_token, devices, peak)
        out["at_assumed_mfu"] = {"mfu": mfu, "tokens_per_second": rate}
        if batch_size:
            out["at_assumed_mfu"]["step_seconds"] = batch_size * seq_len / rate
        if token_budget:
            out["at_assumed_mfu"]["days"] = token_budget / rate / 86400
    if measured_tokens_per_s is not None:
        out["measured"] = {
            "tokens_per_second": measured_tokens_per_s,
            "mfu": flops.model_flops_utilization(measured_tokens_per_s, per_token, devices, peak),
            "mfu_without_attention": flops.model_flops_utilization(
                measured_tokens_per_s, without_attention, devices, peak),
        }
        if token_budget:
            out["measured"]["days"] = token_budget / measured_tokens_per_s / 86400
    out["token_budget"] = token_budget
    return out


def mixture_epochs(spec_path: str, token_budget: float, *, tokens_json: str | None = None,
                   cache_dir: str | None = None, split: str = "train",
                   max_epochs: float = 1.0) -> dict:
    """Epochs each source of a mixture spec is read for a token budget (tasks/mixture_stats.py)."""
    from pipeline.mixture_spec import load_mixture_spec
    from tasks.mixture_stats import cached_token_counts, epochs_per_source, over_repeated

    spec = load_mixture_spec(spec_path)
    task_of = {s.name: spec.task_name(s.name) for s in spec.sources}
    if tokens_json:
        with open(tokens_json, encoding="utf-8") as f:
            report = json.load(f)
        if report.get("split", split) != split:
            raise memory.PlanError(f"{tokens_json} counts the {report['split']!r} split, not "
                                   f"{split!r}")
        counts = {t["task"]: t["tokens"] for t in report.get("tasks", [])}
        missing = sorted(t for t in task_of.values() if t not in counts)
        if missing:
            raise memory.PlanError(f"{tokens_json} has no token count for task(s) {missing} "
                                   f"(run python -m tasks.inspect_mixture {spec_path} "
                                   f"--json)")
        source_tokens = {s: counts[t] for s, t in task_of.items()}
        counted_from = tokens_json
    else:
        stats = cached_token_counts(cache_dir, list(task_of.values()), split)
        source_tokens = {s: stats[t]["tokens"] for s, t in task_of.items()}
        counted_from = cache_dir
    weights = {s.name: s.weight for s in spec.sources}
    epochs = epochs_per_source(weights, source_tokens, token_budget)
    normalized = spec.normalized_weights()
    return {
        "spec": spec.path, "token_budget": token_budget, "split": split,
        "token_counts_from": counted_from, "max_epochs": max_epochs,
        "sources": {s: {"weight": normalized[s], "tokens": source_tokens[s],
                        "epochs": epochs[s] if epochs[s] != float("inf") else None}
                    for s in weights},
        "over_repeated": over_repeated(epochs, max_epochs),
    }


def _human(count: int) -> str:
    return f"{count / 1e9:.2f}B" if count >= 1e9 else f"{count / 1e6:.2f}M"


def _table(report: dict, extra_rows: list[tuple[str, str]] = ()) -> str:
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
        *extra_rows,
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def _gib(n: float) -> str:
    return f"{n / GIB:,.2f} GiB"


def _capacity_rows(cap: dict) -> list[tuple[str, str]]:
    chip, mem = cap["accelerator"], cap["memory_per_device"]
    rows = [
        ("accelerator", f"{chip['name']} x {cap['num_devices']:,} "
                        f"({cap['peak_flops_per_device'] / 1e12:g} TFLOP/s, "
                        f"{chip['memory_gib']:g} GiB each)"),
        ("mesh / rules", f"data={cap['mesh']['data']}, model={cap['mesh']['model']} / "
                         f"{cap['logical_axis_rules']}"),
        ("memory per device", ""),
        ("  parameters", _gib(mem["parameters"])),
        ("  gradients", _gib(mem["gradients"])),
        ("  optimizer state", f"{_gib(mem['optimizer_state'])} ({mem['optimizer_note']})"),
    ]
    if mem["activations"] is None:
        rows.append(("  activations", "give --batch_size"))
    else:
        tokens = mem["activations"][mem["remat"]]["tokens_per_device"]
        for policy, act in mem["activations"].items():
            mark = "  <- counted" if policy == mem["remat"] else ""
            per_token = mem["activations_per_layer_per_token_unsharded"][policy]
            rows.append((f"  activations, remat {policy}",
                         f"{_gib(act['total'])} ({per_token:,} B/layer/token unsharded, "
                         f"{tokens:g} tokens/device){mark}"))
    warning = "  WARNING: exceeds device memory" if mem["exceeds_hbm"] else ""
    rows.append(("  total", f"{_gib(mem['total'])} of {_gib(mem['hbm_bytes'])}{warning}"))
    rows.append(("flops per token (no attention)",
                 f"{cap['flops_per_token']:.4e} ({cap['flops_per_token_without_attention']:.4e})"))
    if "at_assumed_mfu" in cap:
        a = cap["at_assumed_mfu"]
        text = f"{a['tokens_per_second']:,.0f} tokens/s"
        if "step_seconds" in a:
            text += f", {a['step_seconds']:.3g} s/step"
        if "days" in a:
            text += f", {a['days']:.1f} days for {cap['token_budget']:.3g} tokens"
        rows.append((f"at MFU {a['mfu']:.1%}", text))
    if "measured" in cap:
        m = cap["measured"]
        text = (f"MFU {m['mfu']:.1%} ({m['mfu_without_attention']:.1%} without attention)")
        if "days" in m:
            text += f", {m['days']:.1f} days for {cap['token_budget']:.3g} tokens"
        rows.append((f"measured {m['tokens_per_second']:,.0f} tokens/s", text))
    return rows


def _mixture_rows(mix: dict) -> list[tuple[str, str]]:
    rows = [(f"epochs for {mix['token_budget']:.3g} tokens", f"({mix['spec']})")]
    for name, s in mix["sources"].items():
        epochs = "never read" if s["weight"] == 0 else (
            "no tokens" if s["epochs"] is None else f"{s['epochs']:.3g} epochs")
        flag = "  WARNING: over --max_epochs" if name in mix["over_repeated"] else ""
        rows.append((f"  {name}", f"weight {s['weight']:.3f}, {s['tokens']:,} tokens, "
                                  f"{epochs}{flag}"))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    for path in filter(None, args.gin_search_paths.split(",")):
        gin.add_config_file_search_path(path)
    # Not finalized: the plan only reads PalmConfig, and --mixture may import gin-configurables.
    gin.parse_config_files_and_bindings(args.gin_file, args.gin_bindings, finalize_config=False)
    config = PalmConfig()
    report = plan(config, args.seq_len)
    extra_rows = []
    try:
        if args.accelerator:
            report["capacity"] = capacity(
                config, args.seq_len, accelerator=args.accelerator, num_devices=args.num_devices,
                mesh=args.mesh, num_partitions=args.num_partitions,
                logical_axis_rules=args.logical_axis_rules, batch_size=args.batch_size,
                num_microbatches=args.num_microbatches, param_dtype=args.param_dtype,
                compute_dtype=args.compute_dtype, optimizer=args.optimizer, remat=args.remat,
                peak_tflops=args.peak_tflops, mfu=args.mfu, token_budget=args.token_budget,
                measured_tokens_per_s=args.measured_tokens_per_s)
            extra_rows += _capacity_rows(report["capacity"])
        if args.mixture:
            report["mixture"] = mixture_epochs(
                args.mixture, args.token_budget, tokens_json=args.mixture_tokens,
                cache_dir=args.mixture_cache_dir, split=args.mixture_split,
                max_epochs=args.max_epochs)
            extra_rows += _mixture_rows(report["mixture"])
    except (ValueError, OSError) as e:  # PlanError, unknown accelerator, spec and count errors
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_table(report, extra_rows))
    cap = report.get("capacity")
    if cap and cap["memory_per_device"]["exceeds_hbm"]:
        print(f"warning: {_gib(cap['memory_per_device']['total'])} per device exceeds the "
              f"{cap['accelerator']['name']}'s {cap['accelerator']['memory_gib']:g} GiB: shard "
              "more (--num_partitions, --logical_axis_rules fully_sharded), remat more, or use "
              "microbatches", file=sys.stderr)
    for name in report.get("mixture", {}).get("over_repeated", []):
        print(f"warning: source {name} would be read more than {args.max_epochs:g} times",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
