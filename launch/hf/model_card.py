"""README.md of an export: what the model is (sizes), what it was trained on (mixture, steps,
tokens), how far it got (loss), and how to load it. Facts come from the run's files: config.gin,
metrics.jsonl (train loss and the trained-token count `weight_sum` of each step, the newest
evaluation) and the checkpoint's data record."""

from __future__ import annotations

import json
import math

from launch.hf import cohere
from launch.run import paths
from model.config import PalmConfig


def parameter_count(config: PalmConfig) -> int:
    return sum(math.prod(shape) for shape in cohere.palm_shapes(config).values())


def training_facts(run_dir: str, step: int) -> dict:
    """Loss and tokens up to `step` from metrics.jsonl ({} when the run has none)."""
    path = paths.join(run_dir, "metrics.jsonl")
    if not paths.exists(path):
        return {}
    train, evaluation = {}, None
    for line in paths.read_text(path).splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if record.get("step", math.inf) > step:
            continue
        if record.get("kind") == "train":
            train[record["step"]] = record  # a rewound step's line is replaced by the redo
        elif record.get("kind") == "eval":
            evaluation = record
    facts = {}
    if train:
        last = train[max(train)]
        facts["train_loss"] = last.get("loss")
        facts["train_loss_step"] = max(train)
        if all("weight_sum" in r for r in train.values()):
            facts["trained_tokens"] = int(sum(r["weight_sum"] for r in train.values()))
    if evaluation:
        facts["eval_step"] = evaluation["step"]
        facts["eval_losses"] = {k: v for k, v in evaluation.items()
                                if k.endswith("/loss") and isinstance(v, (int, float))}
    return facts


def render(config: PalmConfig, *, step: int, run_facts: dict, record: dict, train: dict,
           dtype: str, checkpoint_dir: str, tokenizer_exact_note: str) -> str:
    lengths = run_facts.get("TASK_FEATURE_LENGTHS") or {}
    seq_len = lengths.get("targets") if isinstance(lengths, dict) else None
    rows = [
        ("architecture", f"PaLM decoder (exported as {cohere.ARCHITECTURE})"),
        ("parameters", f"{parameter_count(config):,}"),
        ("layers", config.num_layers), ("d_model", config.d_model),
        ("query heads / key-value heads", f"{config.num_heads} / 1 (multi-query)"),
        ("head_dim", config.head_dim), ("d_ff (SwiGLU)", config.mlp_dim),
        ("vocabulary (embedding rows)", config.vocab_size),
        ("tied input/output embedding", config.logits_via_embedding),
        ("training sequence length", seq_len or "unknown"),
        ("weights dtype", dtype),
    ]
    training = [
        ("mixture or task", run_facts.get("MIXTURE_OR_TASK_NAME", "unknown")),
        ("checkpoint", checkpoint_dir), ("step", step),
        ("batch size (sequences)", run_facts.get("BATCH_SIZE", "unknown")),
    ]
    if record.get("examples_consumed") is not None:
        training.append(("sequences consumed", f"{record['examples_consumed']:,}"))
        if seq_len:
            training.append(("token slots consumed (sequences x length)",
                             f"{record['examples_consumed'] * seq_len:,}"))
    if "trained_tokens" in train:
        training.append(("target tokens trained on (metrics.jsonl weight_sum)",
                         f"{train['trained_tokens']:,}"))
    if train.get("train_loss") is not None:
        training.append((f"train loss at step {train['train_loss_step']}",
                         f"{train['train_loss']:.4f}"))
    for key, value in sorted(train.get("eval_losses", {}).items()):
        training.append((f"{key} (step {train['eval_step']})", f"{value:.4f}"))

    def table(pairs):
        return "\n".join(["| | |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in pairs]])

    return f"""---
library_name: transformers
pipeline_tag: text-generation
tags: [palm, cohere, jax-export]
---
# PaLM-architecture model, step {step}

Trained with this project's JAX trainer and exported to transformers' `{cohere.ARCHITECTURE}`,
which computes the same function (docs/evaluation-and-export.md).

## Model
{table(rows)}

## Training
{table(training)}

## Use
```python
from transformers import AutoModelForCausalLM, AutoTokenizer
model = AutoModelForCausalLM.from_pretrained("THIS_FOLDER")
tokenizer = AutoTokenizer.from_pretrained("THIS_FOLDER", trust_remote_code=True)
```
The model has no BOS token; documents end with EOS (`</s>`, id {config.eos_id}); padding is id
{config.pad_id}.

## Tokenizer
{tokenizer_exact_note}
"""
