"""Runs and vocabularies for the Hugging Face export/import tests, made in seconds: a run
directory with config.gin, metrics.jsonl and a checksummed Orbax checkpoint of drawn parameters
(saved through launch/run/checkpoints.py, as training saves), and a SentencePiece model trained
with PaLM's settings on text from the Python standard library plus a few languages."""

from __future__ import annotations

import json
import os
import random
import sysconfig

import jax.numpy as jnp

from launch.run.checkpoints import Checkpoints
from launch.utils import SaveCheckpointConfig
from model import optimizer as optimizers
from model.config import PalmConfig
from model.train_step import TrainState
from tests.model_params import random_params

MULTILINGUAL = [
    "Über den Wolken muss die Freiheit wohl grenzenlos sein.",
    "Le cœur a ses raisons que la raison ne connaît point.",
    "El niño comió una manzana; ¿dónde está el pájaro?",
    "東京は日本の首都です。今日は晴れています。",
    "Москва — столица России, а Нева течёт в Петербурге.",
    "नमस्ते, आप कैसे हैं?  ##  ###  ####", "math: x² + y² = z², 3.14159 ≈ π, 1e-6",
    "tabs\tand\ttabs, trailing spaces   \n  and ▁ the escape mark ▁▁",
]


def sample_text(limit_bytes: int = 400_000) -> list[str]:
    """Lines of varied text: stdlib docstrings, code and prose, plus MULTILINGUAL."""
    root = sysconfig.get_paths()["stdlib"]
    lines, size = [], 0
    for name in sorted(os.listdir(root)):
        if not name.endswith(".py"):
            continue
        with open(os.path.join(root, name), encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.strip():
                    lines.append(line.rstrip("\n"))
                    size += len(line)
        if size > limit_bytes:
            break
    return lines + MULTILINGUAL * 20


def train_vocabulary(folder: str, vocab_size: int = 1000) -> str:
    """A SentencePiece model with PaLM's settings (pipeline/train_tokenizer.py); its path."""
    from pipeline import train_tokenizer

    os.makedirs(folder, exist_ok=True)
    text = os.path.join(folder, "sentences.txt")
    with open(text, "w", encoding="utf-8") as f:
        f.write("\n".join(sample_text()) + "\n")
    train_tokenizer.train_sentencepiece(text, folder, vocab_size=vocab_size, num_threads=2,
                                        input_sentence_size=200_000, max_sentence_length=8192,
                                        seed=0)
    return os.path.join(folder, "spm.model")


def gin_text(config: PalmConfig, extra: str = "") -> str:
    lines = ["import model.config", ""]
    for field in ("vocab_size", "num_layers", "num_heads", "d_model", "head_dim", "d_ff",
                  "dtype", "scan_layers", "logits_via_embedding", "rope_max_wavelength",
                  "layer_norm_epsilon"):
        lines.append(f"PalmConfig.{field} = {getattr(config, field)!r}")
    lines += ["MODEL = @PalmConfig()", "TASK_FEATURE_LENGTHS = {'targets': 64}",
              "MIXTURE_OR_TASK_NAME = 'test_mixture'", "BATCH_SIZE = 4", extra]
    return "\n".join(lines) + "\n"


def write_run(run_dir: str, config: PalmConfig, steps=(3,), seed: int = 0) -> dict:
    """A run directory with a verified checkpoint of the same drawn parameters at each step;
    returns the parameters."""
    os.makedirs(run_dir, exist_ok=True)
    with open(os.path.join(run_dir, "config.gin"), "w") as f:
        f.write(gin_text(config))
    opt = optimizers.adafactor(optimizers.rsqrt_schedule())
    checkpoints = Checkpoints(run_dir, SaveCheckpointConfig())
    params = random_params(config, seed)
    for step in steps:
        state = TrainState(step=jnp.asarray(step, jnp.int32), params=params,
                           opt_state=opt.init(params))
        checkpoints.save(step, state, {"examples_consumed": 4 * step, "spike_events": []})
    checkpoints.wait()
    checkpoints.close()
    rng = random.Random(seed)
    with open(os.path.join(run_dir, "metrics.jsonl"), "w") as f:
        for step in range(1, max(steps) + 1):
            f.write(json.dumps({"step": step, "kind": "train", "loss": 6 - step / 10,
                                "weight_sum": 200.0 + rng.randrange(50)}) + "\n")
    return params
