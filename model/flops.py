"""Parameter counts and model FLOPs per token, computed without allocating the model.

FLOPs follow PaLM Appendix B: a training step costs, per token,
    6 N + 12 L H Q T
(N parameters, L layers, H heads, Q head size, T sequence length): 6N for the forward and backward
matmuls against the weights, and 12 LHQT for the attention scores and weighted values (counted in
full, no causal halving). Rematerialisation is not counted: these are model FLOPs, as in MFU.
"""

from __future__ import annotations

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from model.config import PalmConfig
from model.network import PalmModel

PALM_SEQ_LEN = 2048


@functools.lru_cache(maxsize=8)
def abstract_params(config: PalmConfig):
    """The parameter tree as `jax.ShapeDtypeStruct`s inside their `nn.LogicallyPartitioned` boxes.

    `jax.eval_shape` traces the initialiser without running it: nothing is allocated, so this is
    cheap even for the 540B configuration. Cached per (frozen, hashable) config; the tree of
    shapes is never mutated.
    """
    tokens = jnp.zeros((1, 1), jnp.int32)
    return jax.eval_shape(PalmModel(config).init, jax.random.PRNGKey(0), tokens)["params"]


def param_breakdown(config: PalmConfig) -> dict[str, int]:
    """Parameter counts by part (embedding, attention, mlp, layer_norm, output) and their total."""
    counts = {"embedding": 0, "attention": 0, "mlp": 0, "layer_norm": 0, "output": 0}
    leaves = jax.tree_util.tree_leaves_with_path(nn.unbox(abstract_params(config)))
    for path, leaf in leaves:
        names = [entry.key for entry in path]
        if "embedder" in names:
            part = "embedding"
        elif "attention" in names:
            part = "attention"
        elif "mlp" in names:
            part = "mlp"
        elif "layer_norm" in names or "final_norm" in names:
            part = "layer_norm"
        elif "logits_dense" in names:
            part = "output"
        else:
            raise ValueError(f"parameter {'/'.join(names)} belongs to no known part")
        counts[part] += math.prod(leaf.shape)
    counts["total"] = sum(counts.values())
    return counts


def count_params(config: PalmConfig) -> int:
    return param_breakdown(config)["total"]


def attention_flops_per_token(config: PalmConfig, seq_len: int = PALM_SEQ_LEN) -> int:
    """12 L H Q T: forward and backward of QK^T and of the probability-weighted values."""
    return 12 * config.num_layers * config.num_heads * config.head_dim * seq_len


def flops_per_token(config: PalmConfig, seq_len: int = PALM_SEQ_LEN,
                    num_params: int | None = None) -> int:
    """Model FLOPs of one training token, 6N + 12 L H Q T (PaLM App. B)."""
    if num_params is None:
        num_params = count_params(config)
    return 6 * num_params + attention_flops_per_token(config, seq_len)


def model_flops_utilization(tokens_per_second: float, per_token_flops: float, num_devices: int,
                            peak_flops_per_device: float) -> float:
    """MFU (PaLM App. B): model FLOPs achieved over the peak of all devices together."""
    return tokens_per_second * per_token_flops / (num_devices * peak_flops_per_device)


def tokens_per_second_at_mfu(mfu: float, per_token_flops: float, num_devices: int,
                             peak_flops_per_device: float) -> float:
    """The training throughput an assumed MFU gives (the inverse of model_flops_utilization)."""
    return mfu * num_devices * peak_flops_per_device / per_token_flops
