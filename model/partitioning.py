"""Logical-to-mesh axis rules, as data.

The model names every parameter and main activation with t5x's logical axes (batch, length, embed,
mlp, heads, kv, joined_kv, vocab, layers); these rules map them onto a mesh with axes ("data",
"model"). A logical axis mapped to None, or to a mesh axis already used by another dimension of the
same array, is replicated (flax tries the rules in order).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

LogicalAxisRules = Sequence[tuple[str, str | None]]

# t5x's defaults: data parallelism over the batch, Megatron-style model parallelism over the vocab,
# MLP hidden units and attention heads; embed and head_dim replicated.
STANDARD_RULES: tuple[tuple[str, str | None], ...] = (
    ("batch", "data"),
    ("vocab", "model"),
    ("mlp", "model"),
    ("heads", "model"),
    ("joined_kv", "model"),
    ("embed", None),
    ("kv", None),
    ("length", None),
    ("layers", None),
)

# PaLM's layout (Sec. 4): parameters additionally sharded over the data axis along embed, i.e. fully
# sharded data parallelism (ZeRO-3 style) x model parallelism. In activations, embed meets batch,
# which already holds "data", so activations keep embed replicated.
FULLY_SHARDED_RULES: tuple[tuple[str, str | None], ...] = (
    ("batch", "data"),
    ("vocab", "model"),
    ("mlp", "model"),
    ("heads", "model"),
    ("joined_kv", "model"),
    ("embed", "data"),
    ("kv", None),
    ("length", None),
    ("layers", None),
)


def standard_logical_axis_rules(fully_sharded: bool = False) -> list[tuple[str, str | None]]:
    """t5x's default rules, or PaLM's fully sharded variant (embed -> data)."""
    return list(FULLY_SHARDED_RULES if fully_sharded else STANDARD_RULES)


def mesh_partition_specs(boxed_tree, rules: LogicalAxisRules):
    """PartitionSpecs (over mesh axes) for a tree of `nn.LogicallyPartitioned` leaves, e.g. the
    output of `model.flops.abstract_params` or of `model.init`. Unboxed leaves get
    PartitionSpec()."""
    logical_specs = nn.get_partition_spec(boxed_tree)
    return jax.tree.map(lambda spec: nn.logical_to_mesh_axes(spec, rules), logical_specs,
                        is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
