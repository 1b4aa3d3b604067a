"""Model sizes and FLOPs: PaLM's Table 1 parameter counts and Table 22 FLOPs per token, from the gin
files, through the function and through `python -m launch.plan`."""

import json
import math
import pathlib
import subprocess
import sys

import gin
import pytest

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
    assert plan_cli.rewrite_gin_args(["--gin.A.b=3", "--json"]) == ["--gin_bindings=A.b = 3",
                                                                    "--json"]


def test_human_readable_output_and_errors():
    result = run_plan("--gin_file=gin/models/palm_540b.gin")
    assert result.returncode == 0, result.stderr
    assert "540,356,474,880" in result.stdout and "3.278 TFLOPs" in result.stdout
    missing = run_plan("--json")
    assert missing.returncode != 0 and "--gin_file" in missing.stderr
    bad = run_plan("--gin_file=gin/models/palm_8b.gin", "--gin.PalmConfig.remat_policy='all'")
    assert bad.returncode != 0 and "remat_policy" in bad.stderr
