"""The train and eval steps as pure functions, and the shardings of the train state.

launch/ jits these with explicit in/out shardings on a mesh; nothing here knows about devices,
files or flags. The train step supports gradient accumulation over microbatches that is exact in
the sense t5x users expect: every microbatch contributes its *raw* loss sum and weight sum, and the
gradient and the reported losses are normalised once, by the total number of trained tokens of the
whole batch, so 1 microbatch and M microbatches compute the same quantity (up to float summation
order).

Batches are dicts of the features seqio's LMFeatureConverter produces: decoder_input_tokens,
decoder_target_tokens, decoder_loss_weights and, when packed, decoder_segment_ids and
decoder_positions, each [batch, length].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax
from jax.sharding import PartitionSpec

from model import partitioning
from model.config import PalmConfig
from model.flops import abstract_params
from model.loss import chunked_loss_sums, compute_loss
from model.network import PalmModel, output_matrix

Batch = dict[str, jax.Array]
SUM_KEYS = ("loss_sum", "cross_ent_sum", "z_loss_sum", "weight_sum", "num_correct")


@flax.struct.dataclass
class TrainState:
    """What a checkpoint holds of the model: the update count, parameters, optimizer state."""

    step: jax.Array
    params: Any
    opt_state: Any


def init_state(config: PalmConfig, optimizer: optax.GradientTransformation,
               rng: jax.Array) -> TrainState:
    """Fresh parameters (PaLM's initialisers) and optimizer state. Jit it with the state's
    out_shardings so every array is created where it lives."""
    tokens = jnp.zeros((1, 1), jnp.int32)
    params = nn.unbox(PalmModel(config).init(rng, tokens)["params"])
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=optimizer.init(params))


def state_partition_specs(config: PalmConfig, optimizer: optax.GradientTransformation,
                          rules: partitioning.LogicalAxisRules) -> TrainState:
    """PartitionSpecs of every TrainState leaf, derived from the model's logical axes.

    Parameters follow the rules. An optimizer-state leaf that mirrors a parameter (same path suffix
    and shape, e.g. Adafactor's second moment or Adam's mu/nu) is sharded like that parameter;
    anything else (counters, the unfactored Adafactor's placeholder rows) is replicated.
    """
    boxed = abstract_params(config)
    param_specs = partitioning.mesh_partition_specs(boxed, rules)
    abstract = nn.unbox(boxed)
    by_path = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(abstract):
        spec = _get(param_specs, path)
        by_path[_keys(path)] = (leaf.shape, spec)

    def opt_spec(path, leaf):
        keys = _keys(path)
        for start in range(len(keys)):
            match = by_path.get(keys[start:])
            if match is not None and match[0] == leaf.shape:
                return match[1]
        return PartitionSpec()

    opt_shapes = jax.eval_shape(optimizer.init, abstract)
    opt_specs = jax.tree_util.tree_map_with_path(opt_spec, opt_shapes)
    return TrainState(step=PartitionSpec(), params=param_specs, opt_state=opt_specs)


def _keys(path) -> tuple:
    return tuple(getattr(entry, "key", getattr(entry, "name", getattr(entry, "idx", None)))
                 for entry in path)


def _get(tree, path):
    for entry in path:
        tree = tree[entry.key]
    return tree


def _loss_sums(config: PalmConfig, params, batch: Batch) -> tuple[jax.Array, dict]:
    """Summed (not averaged) loss of a batch, for differentiation, and the raw sums.

    With `config.loss_chunk_length` the output layer and the loss run chunk by chunk
    (model/loss.py `chunked_loss_sums`) and the full logits tensor is never made.
    """
    inputs = (batch["decoder_input_tokens"], batch.get("decoder_segment_ids"),
              batch.get("decoder_positions"))
    if config.loss_chunk_length:
        features = PalmModel(config).apply({"params": params}, *inputs, return_features=True)
        chunked = chunked_loss_sums(
            features, output_matrix(params, config), batch["decoder_target_tokens"],
            batch["decoder_loss_weights"], z_loss=config.z_loss,
            chunk_length=config.loss_chunk_length, compute_dtype=config.compute_dtype)
        sums = {"loss_sum": chunked.loss_sum, "cross_ent_sum": chunked.cross_ent_sum,
                "z_loss_sum": chunked.z_loss_sum, "weight_sum": chunked.weight_sum,
                "num_correct": chunked.num_correct}
        return chunked.loss_sum, sums
    logits = PalmModel(config).apply({"params": params}, *inputs)
    out = compute_loss(logits, batch["decoder_target_tokens"], batch["decoder_loss_weights"],
                       z_loss=config.z_loss, loss_normalizing_factor=1.0)
    sums = {"loss_sum": out.loss, "cross_ent_sum": out.cross_ent_loss,
            "z_loss_sum": out.z_loss, "weight_sum": out.weight_sum,
            "num_correct": out.num_correct}
    return out.loss, sums


def _split_microbatches(batch: Batch, num_microbatches: int) -> Batch:
    """[B, ...] -> [M, B/M, ...], microbatch m taking rows m, m+M, m+2M, ... so that every
    data-parallel shard holds its part of every microbatch (no cross-device reshuffle)."""
    def split(x):
        if x.shape[0] % num_microbatches:
            raise ValueError(f"batch size {x.shape[0]} is not divisible by num_microbatches="
                             f"{num_microbatches}")
        x = x.reshape((x.shape[0] // num_microbatches, num_microbatches) + x.shape[1:])
        return jnp.swapaxes(x, 0, 1)
    return jax.tree.map(split, batch)


def normalise(sums: dict) -> dict[str, jax.Array]:
    """t5x's metric names from raw sums (one normalisation, by the trained-token count)."""
    denominator = jnp.maximum(sums["weight_sum"], 1.0)
    return {
        "loss": sums["loss_sum"] / denominator,
        "cross_ent_loss": sums["cross_ent_sum"] / denominator,
        "z_loss": sums["z_loss_sum"] / denominator,
        "accuracy": sums["num_correct"] / denominator,
        "weight_sum": sums["weight_sum"],
    }


def make_train_step(config: PalmConfig, optimizer: optax.GradientTransformation,
                    learning_rate: Callable[[jax.Array], jax.Array] | None = None,
                    num_microbatches: int | None = None
                    ) -> Callable[[TrainState, Batch], tuple[TrainState, dict]]:
    """(state, batch) -> (new state, metrics). Metrics: loss, cross_ent_loss, z_loss, accuracy,
    weight_sum, grad_norm (before clipping), learning_rate (of this update)."""
    grad_fn = jax.grad(lambda p, b: _loss_sums(config, p, b), has_aux=True)

    def accumulate(params, batch):
        if not num_microbatches or num_microbatches == 1:
            return grad_fn(params, batch)
        micro = _split_microbatches(batch, num_microbatches)

        def body(carry, microbatch):
            grads, sums = grad_fn(params, microbatch)
            return jax.tree.map(jnp.add, carry, (grads, sums)), None

        zeros = (jax.tree.map(jnp.zeros_like, params),
                 {key: jnp.zeros((), jnp.float32) for key in SUM_KEYS})
        (grads, sums), _ = jax.lax.scan(body, zeros, micro)
        return grads, sums

    def train_step(state: TrainState, batch: Batch) -> tuple[TrainState, dict]:
        grad_sum, sums = accumulate(state.params, batch)
        denominator = jnp.maximum(sums["weight_sum"], 1.0)
        grads = jax.tree.map(lambda g: g / denominator.astype(g.dtype), grad_sum)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = normalise(sums)
        metrics["grad_norm"] = optax.global_norm(grads)
        if learning_rate is not None:
            metrics["learning_rate"] = jnp.asarray(learning_rate(state.step), jnp.float32)
        new_state = TrainState(step=state.step + 1, params=params, opt_state=opt_state)
        return new_state, metrics

    return train_step


def make_eval_step(config: PalmConfig) -> Callable[[Any, Batch], dict]:
    """(params, batch) -> raw sums (SUM_KEYS), to be added over batches and `normalise`d once."""
    def eval_step(params, batch: Batch) -> dict:
        return _loss_sums(config, params, batch)[1]
    return eval_step
