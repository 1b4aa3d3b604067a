"""Memory per device of one training step: parameters, gradients, optimizer state, activations.

Every array is divided by the mesh axes it is sharded over under the logical axis rules
(model/partitioning.py): parameters through their own logical names (model.flops.abstract_params
+ mesh_partition_specs), activations through the names the model constrains them with
(`batch, length, embed | heads, kv | mlp | vocab`). A dimension that does not divide evenly is
rounded up, as padding would be.

Activations per layer per token, in bytes, for compute dtype of b bytes (2 for bfloat16),
D d_model, H heads, Q head_dim, F d_ff, T sequence length (PalmConfig names; the model's
parallel block, multi-query attention, SwiGLU):

  remat "none"     everything the backward pass reads is kept from the forward pass:
                   b (2D + 3HQ + 3Q + 4F) + (4 + b) H T
                   = layer input and layer-norm output (2D); query projection, rotated query and
                   attention output (3HQ); key, value and rotated key (3Q); MLP gate, up,
                   swish(gate) and their product (4F); attention scores in float32 (4HT) and
                   probabilities in the compute dtype (bHT).
  remat "minimal"  jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims: the outputs of the
                   weight matmuls that the backward pass reads, plus the layer input:
                   b (D + HQ + 2Q + 2F)   (input; query; key and value; gate and up).
                   The attention einsums have a batch dimension and are recomputed.
  remat "full"     nothing_saveable: only each layer's input, b D.

Under "minimal" and "full" the backward pass of one layer rebuilds that layer's "none" set, so
one layer's worth of it is added on top (the peak, not the sum over layers). Outside the layers:
the final layer norm's output (b D) and the float32 logits with their gradient (8 V per token).
Tokens per device are batch x length divided by the mesh axes that `batch` (and `length`) map to,
and by the number of microbatches (activations live for one microbatch at a time).

Assumptions, stated so they can be checked against a profile: XLA keeps exactly the residuals
listed (no extra copies, no fusion that drops one); the attention mask, layer-norm statistics,
RoPE tables and temporary buffers of fusions are ignored; gradients are one buffer the size of
the parameters, in the parameters' dtype; optimizer slots are float32 and sharded like the
parameters (Adafactor without factorisation and with momentum, as PaLM: 2 slots; AdamW: 2);
no pipeline parallelism, no activation offloading.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import flax.linen as nn
import jax

from model import flops
from model.config import PalmConfig
from model.partitioning import LogicalAxisRules, mesh_partition_specs

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
OPTIMIZER_SLOTS = {"adafactor": 2, "adamw": 2}  # float32 slots per parameter
OPTIMIZER_NOTES = {
    "adafactor": "unfactored second moment + momentum (PaLM: factorisation off, beta1 0.9)",
    "adamw": "first and second moments",
}
REMAT_POLICIES = ("none", "minimal", "full")
GIB = 1024 ** 3


class PlanError(ValueError):
    pass


def _axis_size(entry, mesh: Mapping[str, int]) -> int:
    """Devices one dimension is split over: the product of its mesh axes (None: 1)."""
    if entry is None:
        return 1
    names = (entry,) if isinstance(entry, str) else tuple(entry)
    return math.prod(mesh.get(name, 1) for name in names)


def sharded_elements(shape: Sequence[int], spec, mesh: Mapping[str, int]) -> int:
    """Elements of one device's shard of an array of `shape` with PartitionSpec `spec`."""
    entries = tuple(spec) + (None,) * (len(shape) - len(tuple(spec)))
    return math.prod(math.ceil(d / _axis_size(e, mesh)) for d, e in zip(shape, entries))


def param_elements_per_device(config: PalmConfig, rules: LogicalAxisRules,
                              mesh: Mapping[str, int]) -> int:
    """Parameter elements held by one device under `rules` on `mesh`."""
    boxed = flops.abstract_params(config)
    specs = mesh_partition_specs(boxed, rules)
    is_spec = lambda x: isinstance(x, jax.sharding.PartitionSpec)  # noqa: E731
    shards = jax.tree.map(lambda leaf, spec: sharded_elements(leaf.shape, spec, mesh),
                          nn.unbox(boxed), specs, is_leaf=is_spec)
    return sum(jax.tree.leaves(shards))


@dataclasses.dataclass(frozen=True)
class ActivationTerm:
    """One kind of saved activation: per-token elements along logical feature axes."""
    name: str
    feature_axes: tuple[str | None, ...]  # logical axes after (batch, length)
    elements: int  # per token
    bytes_per_element: int
    policies: tuple[str, ...]  # remat policies under which it is kept across the layer


def layer_activation_terms(config: PalmConfig, seq_len: int,
                           compute_bytes: int) -> list[ActivationTerm]:
    d, h, q, f = config.d_model, config.num_heads, config.head_dim, config.mlp_dim
    b = compute_bytes
    all_, none_min = REMAT_POLICIES, ("none", "minimal")
    return [
        ActivationTerm("layer input", ("embed",), d, b, all_),
        ActivationTerm("layer-norm output", ("embed",), d, b, ("none",)),
        ActivationTerm("query projection", ("heads", "kv"), h * q, b, none_min),
        ActivationTerm("key and value projections", ("kv",), 2 * q, b, none_min),
        ActivationTerm("rotated query, attention output", ("heads", "kv"), 2 * h * q, b,
                       ("none",)),
        ActivationTerm("rotated key", ("kv",), q, b, ("none",)),
        ActivationTerm("attention scores (float32)", ("heads", None), h * seq_len, 4,
                       ("none",)),
        ActivationTerm("attention probabilities", ("heads", None), h * seq_len, b, ("none",)),
        ActivationTerm("MLP gate and up projections", ("mlp",), 2 * f, b, none_min),
        ActivationTerm("MLP swish(gate) and hidden", ("mlp",), 2 * f, b, ("none",)),
    ]


def activation_bytes_per_layer_per_token(config: PalmConfig, seq_len: int, compute_bytes: int,
                                         policy: str) -> int:
    """Unsharded bytes one layer keeps per token under a remat policy (module docstring)."""
    if policy not in REMAT_POLICIES:
        raise PlanError(f"unknown remat policy {policy!r}; known: {REMAT_POLICIES}")
    return sum(t.elements * t.bytes_per_element
               for t in layer_activation_terms(config, seq_len, compute_bytes)
               if policy in t.policies)


def _per_device_token_bytes(terms, rules, mesh) -> float:
    """Bytes per (global) token on one device: feature axes divided by their mesh axes."""
    total = 0.0
    for t in terms:
        spec = nn.logical_to_mesh_axes(("batch", "length", *t.feature_axes), rules)
        # Feature axes after batch and length; a mesh axis taken by batch is not reused.
        feature_div = math.prod(_axis_size(e, mesh) for e in tuple(spec)[2:])
        total += t.elements * t.bytes_per_element / feature_div
    return total


def tokens_per_device(batch_size: int, seq_len: int, rules: LogicalAxisRules,
                      mesh: Mapping[str, int], num_microbatches: int = 1) -> float:
    spec = tuple(nn.logical_to_mesh_axes(("batch", "length"), rules))
    batch_div, length_div = _axis_size(spec[0], mesh), _axis_size(spec[1], mesh)
    if batch_size % num_microbatches:
        raise PlanError(f"batch size {batch_size} is not divisible by {num_microbatches} "
                        "microbatches")
    microbatch = batch_size // num_microbatches
    if microbatch % batch_div:
        raise PlanError(f"a (micro)batch of {microbatch} sequences cannot be split evenly over "
                        f"{batch_div} data-parallel shards: make the batch a multiple of the "
                        f"data axis, or use fewer microbatches")
    return microbatch / batch_div * math.ceil(seq_len / length_div)


def activation_bytes_per_device(config: PalmConfig, *, batch_size: int, seq_len: int,
                                compute_bytes: int, policy: str, rules: LogicalAxisRules,
                                mesh: Mapping[str, int], num_microbatches: int = 1) -> dict:
    """Activation bytes one device holds at the peak of a step, by component."""
    tokens = tokens_per_device(batch_size, seq_len, rules, mesh, num_microbatches)
    terms = layer_activation_terms(config, seq_len, compute_bytes)
    kept = _per_device_token_bytes([t for t in terms if policy in t.policies], rules, mesh)
    everything = _per_device_token_bytes(terms, rules, mesh)
    out = {
        "tokens_per_device": tokens,
        "layers": config.num_layers * kept * tokens,
        # The layer being differentiated rebuilds everything ("none" already keeps it).
        "recomputed_layer": 0.0 if policy == "none" else everything * tokens,
        "output": _per_device_token_bytes([
            ActivationTerm("final norm", ("embed",), config.d_model, compute_bytes, ()),
            ActivationTerm("logits and gradient (float32)", ("vocab",), 2 * config.vocab_size,
                           4, ())], rules, mesh) * tokens,
    }
    out["total"] = out["layers"] + out["recomputed_layer"] + out["output"]
    return out


def memory_per_device(config: PalmConfig, *, mesh: Mapping[str, int], rules: LogicalAxisRules,
                      param_dtype: str, compute_dtype: str, optimizer: str,
                      batch_size: int | None, seq_len: int, remat: str,
                      num_microbatches: int = 1) -> dict:
    """Bytes per device: parameters, gradients, optimizer state, and activations under every
    remat policy (the chosen one, `remat`, in the total)."""
    if optimizer not in OPTIMIZER_SLOTS:
        raise PlanError(f"unknown optimizer {optimizer!r}; known: {sorted(OPTIMIZER_SLOTS)}")
    for name, dtype in (("param", param_dtype), ("compute", compute_dtype)):
        if dtype not in DTYPE_BYTES:
            raise PlanError(f"unknown {name} dtype {dtype!r}; known: {sorted(DTYPE_BYTES)}")
    if remat not in REMAT_POLICIES:
        raise PlanError(f"unknown remat policy {remat!r}; known: {REMAT_POLICIES}")
    elements = param_elements_per_device(config, rules, mesh)
    out = {
        "param_elements_per_device": elements,
        "parameters": elements * DTYPE_BYTES[param_dtype],
        "gradients": elements * DTYPE_BYTES[param_dtype],
        "optimizer_state": elements * 4 * OPTIMIZER_SLOTS[optimizer],
        "optimizer_note": f"{optimizer}: {OPTIMIZER_SLOTS[optimizer]} float32 slots per "
                          f"parameter ({OPTIMIZER_NOTES[optimizer]})",
    }
    fixed = out["parameters"] + out["gradients"] + out["optimizer_state"]
    if batch_size is None:
        out["activations"] = None
        out["total"] = fixed
        return out
    out["activations"] = {
        policy: activation_bytes_per_device(
            config, batch_size=batch_size, seq_len=seq_len,
            compute_bytes=DTYPE_BYTES[compute_dtype], policy=policy, rules=rules, mesh=mesh,
            num_microbatches=num_microbatches)
        for policy in REMAT_POLICIES}
    out["activations_per_layer_per_token_unsharded"] = {
        policy: activation_bytes_per_layer_per_token(config, seq_len,
                                                     DTYPE_BYTES[compute_dtype], policy)
        for policy in REMAT_POLICIES}
    out["remat"] = remat
    out["total"] = fixed + out["activations"][remat]["total"]
    return out
