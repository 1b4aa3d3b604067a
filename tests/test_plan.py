"""Model sizes and FLOPs: PaLM's Table 1 parameter counts and Table 22 FLOPs per token, from the gin
files, through the function and through `python -m launch.plan`."""

import json
import math
import pathlib
import subprocess
import sys

import pytest

import gin
from launch import gin_utils
from launch import plan as plan_cli
from model import flops
from model.config import PalmConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]

# size: (Table 1 parameters in billions, Table 22 TFLOPs per token, decimals printed in Table 22)
PALM = {"8b": (8.63, 0.0550, 4), "62b": (62.50, 0.388, 3), "540b": (540.35, 3.28, 2)}


@pytest.fixture(autouse=True)
def clean_gin():
    gin.clear_config()
    yield
    gin.clear_config()


def config_from_gin(size: str, *bindings: str) -> PalmConfig:
    gin.parse_config_files_and_bindings([str(ROOT / f"gin/models/palm_{size}.gin")], bindings)
    return PalmConfig()


def run_plan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "launch.plan", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def check_against_palm(size: str, report: dict):
    table1, table22, decimals = PALM[size]
    # The count includes the layer-norm scales (2.2M at 540B); Table 1 is within 0.01B of it and
    # equals, rounded to its 0.01B, the count without them.
    assert abs(report["params"] / 1e9 - table1) < 0.01
    assert round(report["params_excluding_layer_norm"] / 1e9, 2) == table1
    assert math.isclose(round(report["flops_per_token"] / 1e12, decimals), table22)


@pytest.mark.parametrize("size", PALM)
def test_table1_and_table22_via_the_function(size):
    check_against_palm(size, plan_cli.plan(config_from_gin(size)))


@pytest.mark.parametrize("size", PALM)
def test_table1_and_table22_via_the_command_line(size):
    result = run_plan(f"--gin_file=gin/models/palm_{size}.gin", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    check_against_palm(size, report)
    assert report["seq_len"] == 2048
    assert report["config"]["vocab_size"] == 256000 and report["config"]["head_dim"] == 256


def test_flops_formula_by_hand():
    cfg = config_from_gin("tiny")
    n = flops.count_params(cfg)
    # embedding 512*64; per layer: query + out 2*64*64, key + value 2*64*16, MLP 3*64*256, scale 64
    assert n == 512 * 64 + 2 * (2 * 64 * 64 + 2 * 64 * 16 + 3 * 64 * 256 + 64) + 64
    assert flops.flops_per_token(cfg, seq_len=128) == 6 * n + 12 * 2 * 4 * 16 * 128
    untied = PalmConfig(**{**vars(cfg), "logits_via_embedding": False})
    assert flops.param_breakdown(untied)["output"] == 64 * 512


@pytest.mark.parametrize("size, low, high", [("tiny", 1e5, 2e5), ("small", 0.09e9, 0.13e9),
                                             ("1b", 0.9e9, 1.1e9)])
def test_project_sizes(size, low, high):
    cfg = config_from_gin(size)
    assert low <= flops.count_params(cfg) <= high
    assert cfg.mlp_dim == 4 * cfg.d_model


def test_gin_shorthand_bindings_and_seq_len():
    result = run_plan("--gin_file=gin/models/palm_8b.gin", "--gin.PalmConfig.num_layers=2",
                      "--gin_bindings=PalmConfig.vocab_size = 1000", "--seq_len=1024", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["config"]["num_layers"] == 2 and report["config"]["vocab_size"] == 1000
    cfg = PalmConfig(vocab_size=1000, num_layers=2, num_heads=16, d_model=4096, head_dim=256)
    assert report["params"] == flops.count_params(cfg)
    assert report["flops_per_token"] == 6 * report["params"] + 12 * 2 * 16 * 256 * 1024
    assert gin_utils.rewrite_gin_args(["--gin.A.b=3", "--json"]) == ["--gin_bindings=A.b = 3",
                                                                    "--json"]


def test_human_readable_output_and_errors():
    result = run_plan("--gin_file=gin/models/palm_540b.gin")
    assert result.returncode == 0, result.stderr
    assert "540,356,474,880" in result.stdout and "3.278 TFLOPs" in result.stdout
    missing = run_plan("--json")
    assert missing.returncode != 0 and "--gin_file" in missing.stderr
    bad = run_plan("--gin_file=gin/models/palm_8b.gin", "--gin.PalmConfig.remat_policy='all'")
    assert bad.returncode != 0 and "remat_policy" in bad.stderr


# --------------------------------------------------------------------------------------------
# Capacity planning: hardware, mesh, memory, MFU, epochs per source

from model import memory  # noqa: E402
from model.partitioning import standard_logical_axis_rules  # noqa: E402


def test_palm_540b_mfu_on_6144_tpu_v4():
    """PaLM Sec. 4.1 / App. B: 238.3K tokens/s on 6144 TPU v4 chips is 46.2 % MFU (45.7 %
    without the attention FLOPs)."""
    cap = plan_cli.capacity(config_from_gin("540b"), 2048, accelerator="tpu_v4",
                            num_devices=6144, mesh="data=512,model=12",
                            measured_tokens_per_s=238.3e3, mfu=0.462, token_budget=780e9)
    assert round(cap["measured"]["mfu"] * 100, 1) == 46.2
    assert round(cap["measured"]["mfu_without_attention"] * 100, 1) == 45.7
    # An assumed MFU gives back the throughput it came from; days follow from the budget.
    assert math.isclose(cap["at_assumed_mfu"]["tokens_per_second"], 238.3e3, rel_tol=1e-3)
    assert math.isclose(cap["at_assumed_mfu"]["days"],
                        780e9 / cap["at_assumed_mfu"]["tokens_per_second"] / 86400)


@pytest.mark.parametrize("size", PALM)
def test_table22_flops_through_the_capacity_plan(size):
    """The capacity plan's FLOPs per token are Table 22's, and 6N without attention."""
    _, table22, decimals = PALM[size]
    cfg = config_from_gin(size)
    cap = plan_cli.capacity(cfg, 2048, accelerator="h100_sxm", num_devices=8)
    assert math.isclose(round(cap["flops_per_token"] / 1e12, decimals), table22)
    assert cap["flops_per_token_without_attention"] == 6 * flops.count_params(cfg)
    mfu = flops.model_flops_utilization(1e4, cap["flops_per_token"], 8, 989e12)
    assert math.isclose(flops.tokens_per_second_at_mfu(mfu, cap["flops_per_token"], 8, 989e12),
                        1e4)


def test_parameter_memory_is_divided_by_the_axes_each_array_is_sharded_over():
    cfg = config_from_gin("tiny")  # vocab 512, d_model 64, 4 x 16 heads, d_ff 256, 2 layers
    mesh = {"data": 2, "model": 4}
    # Standard rules: vocab, joined_kv and mlp over model; embed and kv replicated.
    per_layer = 64 * 64 // 4 + 2 * 64 * 16 + 64 * 64 // 4 + 2 * 64 * 256 // 4 + 256 * 64 // 4 + 64
    assert memory.param_elements_per_device(cfg, standard_logical_axis_rules(), mesh) == (
        512 // 4 * 64 + 2 * per_layer + 64)
    # Fully sharded: embed over data as well, so every kernel is split over both axes.
    per_layer = (64 * 64 + 2 * 64 * 16 * 4 + 64 * 64 + 3 * 64 * 256) // 8 + 64 // 2
    assert memory.param_elements_per_device(cfg, standard_logical_axis_rules(True), mesh) == (
        512 * 64 // 8 + 2 * per_layer + 64 // 2)


def test_activation_formulas_per_layer_per_token():
    cfg = config_from_gin("tiny")
    d, hq, q, f, h, t = 64, 64, 16, 256, 4, 128
    per = {p: memory.activation_bytes_per_layer_per_token(cfg, t, 2, p)
           for p in memory.REMAT_POLICIES}
    assert per["none"] == 2 * (2 * d + 3 * hq + 3 * q + 4 * f) + (4 + 2) * h * t
    assert per["minimal"] == 2 * (d + hq + 2 * q + 2 * f)
    assert per["full"] == 2 * d
    act = memory.activation_bytes_per_device(
        cfg, batch_size=8, seq_len=t, compute_bytes=2, policy="full",
        rules=standard_logical_axis_rules(), mesh={"data": 4, "model": 1})
    tokens = 8 // 4 * t
    assert act["tokens_per_device"] == tokens
    assert act["layers"] == 2 * per["full"] * tokens
    assert act["recomputed_layer"] == per["none"] * tokens
    assert act["output"] == (2 * d + 8 * 512) * tokens


def test_memory_per_device_decreases_as_the_model_axis_grows():
    cfg = config_from_gin("8b")
    totals, params = [], []
    for model_axis in (1, 2, 4, 8, 16):
        cap = plan_cli.capacity(cfg, 2048, accelerator="a100", mesh=f"data=8,model={model_axis}",
                                batch_size=64, remat="minimal")
        totals.append(cap["memory_per_device"]["total"])
        params.append(cap["memory_per_device"]["parameters"])
    assert all(a > b for a, b in zip(totals, totals[1:])), totals
    assert all(a > b for a, b in zip(params, params[1:])), params
    # 8B in float32 with Adafactor's two slots on one A100: 16 bytes per parameter, ~128 GiB.
    single = plan_cli.capacity(cfg, 2048, accelerator="a100", num_devices=1)
    assert single["memory_per_device"]["exceeds_hbm"]
    assert single["memory_per_device"]["total"] == 16 * flops.count_params(cfg)


def test_remat_policies_order_and_fully_sharded_rules_shrink_memory():
    cfg = config_from_gin("540b")
    kw = dict(accelerator="tpu_v4", mesh="data=512,model=12", batch_size=2048)
    std = plan_cli.capacity(cfg, 2048, **kw)["memory_per_device"]
    fsdp = plan_cli.capacity(cfg, 2048, logical_axis_rules="fully_sharded",
                             **kw)["memory_per_device"]
    act = std["activations"]
    assert act["none"]["total"] > act["minimal"]["total"] > act["full"]["total"]
    assert fsdp["parameters"] < std["parameters"] / 100  # 512-way more sharding of the kernels
    micro = plan_cli.capacity(cfg, 2048, logical_axis_rules="fully_sharded",
                              num_microbatches=4, remat="minimal", **kw)["memory_per_device"]
    assert math.isclose(micro["activations"]["minimal"]["total"] * 4,
                        fsdp["activations"]["minimal"]["total"])
    assert not micro["exceeds_hbm"]


def test_unknown_accelerator_and_bad_meshes_are_clear_errors():
    result = run_plan("--gin_file=gin/models/palm_tiny.gin", "--accelerator", "tpu_v9",
                      "--num_devices", "8")
    assert result.returncode == 2
    assert "unknown accelerator 'tpu_v9'" in result.stderr
    assert "tpu_v4" in result.stderr and "h100_sxm" in result.stderr
    cfg = config_from_gin("tiny")
    with pytest.raises(memory.PlanError, match="has 8 devices but --num_devices is 16"):
        plan_cli.capacity(cfg, 128, accelerator="tpu_v4", num_devices=16, mesh="data=4,model=2")
    with pytest.raises(memory.PlanError, match="not divisible by --num_partitions 3"):
        plan_cli.capacity(cfg, 128, accelerator="tpu_v4", num_devices=16, num_partitions=3)
    with pytest.raises(memory.PlanError, match="cannot be split evenly over 8"):
        plan_cli.capacity(cfg, 128, accelerator="tpu_v4", mesh="data=8", batch_size=12)
    with pytest.raises(memory.PlanError, match="expected axes data=N,model=M"):
        plan_cli.parse_mesh("data=8,pipe=2")


def write_toy_mixture(tmp_path):
    spec = tmp_path / "toy.yaml"
    spec.write_text("name: toy\nvocabulary: spm.model\ndata_dir: prep\nsources:\n"
                    "  - {name: web, weight: 3}\n  - {name: books, weight: 1}\n"
                    "  - {name: unused, weight: 0}\n")
    return spec


def test_epochs_per_source_from_inspect_json(tmp_path, capsys):
    spec = write_toy_mixture(tmp_path)
    # the shape `python -m tasks.inspect_mixture SPEC --json` prints
    counts = tmp_path / "counts.json"
    counts.write_text(json.dumps({"name": "toy", "split": "train", "tasks": [
        {"task": "toy.web", "tokens": 600}, {"task": "toy.books", "tokens": 50},
        {"task": "toy.unused", "tokens": 10}]}))
    assert plan_cli.main(["--gin_file=gin/models/palm_tiny.gin", "--mixture", str(spec),
                          "--mixture_tokens", str(counts), "--token_budget", "800",
                          "--max_epochs", "2", "--json"]) == 0
    captured = capsys.readouterr()
    sources = json.loads(captured.out)["mixture"]["sources"]
    assert {n: s["epochs"] for n, s in sources.items()} == {"web": 1.0, "books": 4.0,
                                                             "unused": 0.0}
    assert sources["web"]["weight"] == 0.75
    assert "source books would be read more than 2 times" in captured.err
    assert "web" not in captured.err


def test_epochs_per_source_from_a_seqio_cache(tmp_path, capsys):
    spec = write_toy_mixture(tmp_path)
    for task, tokens, examples in (("toy.web", 290, 10), ("toy.books", 95, 5),
                                   ("toy.unused", None, 0)):
        stats = {"examples": examples}  # seqio writes no token counts for an empty split
        if tokens is not None:
            stats.update(targets_tokens=tokens, targets_max_tokens=40)
        (tmp_path / "cache" / task).mkdir(parents=True)
        (tmp_path / "cache" / task / "stats.train.json").write_text(json.dumps(stats))
    assert plan_cli.main(["--gin_file=gin/models/palm_tiny.gin", "--mixture", str(spec),
                          "--mixture_cache_dir", str(tmp_path / "cache"),
                          "--token_budget", "1200"]) == 0
    out = capsys.readouterr().out
    assert "web" in out and "3 epochs" in out and "books" in out and "3 epochs" in out
    missing = plan_cli.main(["--gin_file=gin/models/palm_tiny.gin", "--mixture", str(spec),
                             "--mixture_cache_dir", str(tmp_path / "nowhere"),
                             "--token_budget", "1200"])
    assert missing == 2 and "no seqio cache stats for task 'toy.web'" in capsys.readouterr().err
