"""Language-model loss: weighted cross-entropy plus PaLM's z-loss, with t5x's metric names.

Per token, with Z the softmax normaliser of the logits:
  cross_ent = log Z - logit[target]
  z_loss    = z_loss_coeff * (log Z)^2       (PaLM Sec. 5: keeps log Z near 0, 1e-4)
Both are weighted by `decoder_loss_weights` (0 on padding and on tokens a task does not train on).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp


class LossOutput(NamedTuple):
    """Scalars of one batch. `loss`, `z_loss` and `cross_ent_loss` are divided by the normalising
    factor; `weight_sum` and `num_correct` are raw sums, so a caller that accumulates several
    microbatches can re-normalise exactly."""

    loss: jax.Array
    z_loss: jax.Array
    cross_ent_loss: jax.Array
    weight_sum: jax.Array
    num_correct: jax.Array

    def metrics(self) -> dict[str, jax.Array]:
        """The values under the names t5x users know."""
        return {
            "loss": self.loss,
            "z_loss": self.z_loss,
            "cross_ent_loss": self.cross_ent_loss,
            "accuracy": self.num_correct / jnp.maximum(self.weight_sum, 1.0),
            "weight_sum": self.weight_sum,
        }


def cross_entropy_with_z_loss(logits: jax.Array, targets: jax.Array,
                              z_loss: float) -> tuple[jax.Array, jax.Array]:
    """Per-token cross-entropy and z-loss terms, both [B, T], in float32.

    The target logit is picked with a one-hot product rather than a gather, so the computation stays
    local when the vocabulary axis of the logits is sharded.
    """
    logits = logits.astype(jnp.float32)
    log_z = jax.nn.logsumexp(logits, axis=-1)
    target_logit = jnp.sum(logits * jax.nn.one_hot(targets, logits.shape[-1], dtype=logits.dtype),
                           axis=-1)
    return log_z - target_logit, z_loss * jnp.square(log_z)


def compute_loss(logits: jax.Array, targets: jax.Array, weights: jax.Array | None = None, *,
                 z_loss: float = 1e-4, loss_normalizing_factor: float | None = None) -> LossOutput:
    """Weighted mean LM loss of a batch.

    Args:
      logits: [B, T, V].
      targets: [B, T] integer targets (`decoder_target_tokens`).
      weights: [B, T] `decoder_loss_weights`; None weights every token 1.
      z_loss: coefficient of the z-loss term (PalmConfig.z_loss).
      loss_normalizing_factor: divide the summed losses by this constant; None divides by the sum of
        the weights (the mean over trained tokens).
    """
    if weights is None:
        weights = jnp.ones(targets.shape, jnp.float32)
    weights = weights.astype(jnp.float32)
    cross_ent, z_term = cross_entropy_with_z_loss(logits, targets, z_loss)
    weight_sum = jnp.sum(weights)
    if loss_normalizing_factor is None:
        normaliser = jnp.maximum(weight_sum, 1.0)  # an all-padding batch gives 0, not NaN
    else:
        normaliser = jnp.asarray(loss_normalizing_factor, jnp.float32)
    cross_ent_loss = jnp.sum(cross_ent * weights) / normaliser
    z_loss_value = jnp.sum(z_term * weights) / normaliser
    correct = (jnp.argmax(logits, axis=-1) == targets).astype(jnp.float32)
    return LossOutput(
        loss=cross_ent_loss + z_loss_value,
        z_loss=z_loss_value,
        cross_ent_loss=cross_ent_loss,
        weight_sum=weight_sum,
        num_correct=jnp.sum(correct * weights),
    )


class ChunkedLossSums(NamedTuple):
    """Raw (unnormalised) sums of one batch from `chunked_loss_sums`."""

    loss_sum: jax.Array
    cross_ent_sum: jax.Array
    z_loss_sum: jax.Array
    weight_sum: jax.Array
    num_correct: jax.Array


def chunked_loss_sums(features: jax.Array, output_matrix: jax.Array, targets: jax.Array,
                      weights: jax.Array | None, *, z_loss: float, chunk_length: int,
                      compute_dtype=None) -> ChunkedLossSums:
    """The LM loss of `compute_loss` (summed, not averaged), without the [B, T, V] logits.

    The logits are `features @ output_matrix.T` (model/network.py `project`). Here they are made
    for `chunk_length` positions of every row at a time inside a `lax.scan`; each chunk's
    cross-entropy, z-loss and accuracy are summed and the chunk is dropped. Under differentiation
    the same pass also computes the chunk's gradient with respect to its logits in closed form,
    w * (softmax * (1 + 2 z log Z) - onehot(target)), and multiplies it straight into the gradients
    of the features and of the output matrix (custom VJP). The backward pass then only scales those
    by the incoming cotangent: no chunk is kept or recomputed, and the output layer costs the same
    FLOPs as without chunking.

    Args:
      features: [B, T, D] (PalmModel(..., return_features=True)).
      output_matrix: [V, D].
      targets: [B, T] integer targets; weights: [B, T] loss weights (None: all 1).
      z_loss: the z-loss coefficient.
      chunk_length: positions per chunk; T is padded (with weight 0) to a multiple of it.
      compute_dtype: dtype of the chunk matmuls (default: the features' dtype); logits and every
        sum are float32.
    Gradients flow to `features` and `output_matrix` through `loss_sum` only; the other sums are
    metrics and carry none (as if wrapped in `lax.stop_gradient`), nor do targets or weights.
    """
    if chunk_length < 1:
        raise ValueError(f"chunk_length must be >= 1, got {chunk_length}")
    if weights is None:
        weights = jnp.ones(targets.shape, jnp.float32)
    weights = weights.astype(jnp.float32)
    dtype = features.dtype if compute_dtype is None else compute_dtype
    loss_sum, metrics = _fused_loss(features.astype(dtype), output_matrix, targets, weights,
                                    float(z_loss), int(chunk_length))
    cross_ent_sum, z_loss_sum, num_correct = jax.lax.stop_gradient(metrics)
    return ChunkedLossSums(loss_sum=loss_sum, cross_ent_sum=cross_ent_sum, z_loss_sum=z_loss_sum,
                           weight_sum=jnp.sum(weights), num_correct=num_correct)


def _to_chunks(x: jax.Array, chunk_length: int, pad_value=0) -> jax.Array:
    """[B, T, ...] -> [T' / chunk_length, B, chunk_length, ...], T padded up to T'."""
    length = x.shape[1]
    padded = -(-length // chunk_length) * chunk_length
    if padded != length:
        widths = [(0, 0), (0, padded - length)] + [(0, 0)] * (x.ndim - 2)
        x = jnp.pad(x, widths, constant_values=pad_value)
    x = x.reshape((x.shape[0], padded // chunk_length, chunk_length) + x.shape[2:])
    return jnp.swapaxes(x, 0, 1)


def _from_chunks(x: jax.Array, length: int) -> jax.Array:
    """Inverse of `_to_chunks`: [n, B, L, ...] -> [B, length, ...]."""
    x = jnp.swapaxes(x, 0, 1)
    return x.reshape((x.shape[0], -1) + x.shape[3:])[:, :length]


def _chunk_logits(features, matrix):
    return jnp.einsum("bld,vd->blv", features, matrix, preferred_element_type=jnp.float32)


def _chunk_terms(logits, targets, weights, z_loss):
    """Per-chunk sums (loss, cross_ent, z_loss, correct) and what the gradient needs.

    The target logit is selected inside the reduction (no one-hot array, and local when the
    vocabulary axis is sharded), and a token counts as correct when its target logit is the row
    maximum, the max logsumexp needs anyway: an argmax is a second, index-carrying reduction over
    the vocabulary that cost about a seventh of the CPU train step at vocabulary 32k. The two
    differ only on exact ties.
    """
    max_logit = jnp.max(logits, axis=-1)
    log_z = max_logit + jnp.log(jnp.sum(jnp.exp(logits - max_logit[..., None]), axis=-1))
    is_target = jnp.arange(logits.shape[-1]) == targets[..., None]
    target_logit = jnp.sum(jnp.where(is_target, logits, 0.0), axis=-1)
    cross_ent = log_z - target_logit
    z_term = z_loss * jnp.square(log_z)
    correct = (target_logit >= max_logit).astype(jnp.float32)
    sums = jnp.stack([jnp.sum(cross_ent * weights), jnp.sum(z_term * weights),
                      jnp.sum(correct * weights)])
    return sums, log_z


def _scan_sums(features, matrix, targets, weights, z_loss, chunk_length):
    matrix = matrix.astype(features.dtype)
    chunks = (_to_chunks(features, chunk_length), _to_chunks(targets, chunk_length),
              _to_chunks(weights, chunk_length))

    def body(total, chunk):
        f, t, w = chunk
        sums, _ = _chunk_terms(_chunk_logits(f, matrix), t, w, z_loss)
        return total + sums, None

    total, _ = jax.lax.scan(body, jnp.zeros(3, jnp.float32), chunks)
    return total


@functools.partial(jax.custom_vjp, nondiff_argnums=(4, 5))
def _fused_loss(features, matrix, targets, weights, z_loss, chunk_length):
    total = _scan_sums(features, matrix, targets, weights, z_loss, chunk_length)
    return total[0] + total[1], (total[0], total[1], total[2])


def _fused_loss_fwd(features, matrix, targets, weights, z_loss, chunk_length):
    cast = matrix.astype(features.dtype)
    chunks = (_to_chunks(features, chunk_length), _to_chunks(targets, chunk_length),
              _to_chunks(weights, chunk_length))

    def body(carry, chunk):
        total, matrix_grad = carry
        f, t, w = chunk
        logits = _chunk_logits(f, cast)
        sums, log_z = _chunk_terms(logits, t, w, z_loss)
        # d(cross_ent + z_loss * log_z^2) / d logits, weighted.
        probs = jnp.exp(logits - log_z[..., None])
        is_target = jnp.arange(logits.shape[-1]) == t[..., None]
        logits_grad = (w * (1.0 + 2.0 * z_loss * log_z))[..., None] * probs \
            - jnp.where(is_target, w[..., None], 0.0)
        logits_grad = logits_grad.astype(f.dtype)
        features_grad = jnp.einsum("blv,vd->bld", logits_grad, cast,
                                   preferred_element_type=jnp.float32).astype(f.dtype)
        matrix_grad = matrix_grad + _matrix_grad(f, logits_grad)
        return (total + sums, matrix_grad), features_grad

    transposed = _matrix_grad_is_transposed(features.dtype)
    init = (jnp.zeros(3, jnp.float32),
            jnp.zeros(matrix.shape[::-1] if transposed else matrix.shape, jnp.float32))
    (total, matrix_grad), features_grad = jax.lax.scan(body, init, chunks)
    features_grad = _from_chunks(features_grad, features.shape[1])
    out = (total[0] + total[1], (total[0], total[1], total[2]))
    matrix_grad = matrix_grad.T if transposed else matrix_grad
    return out, (features_grad, matrix_grad.astype(matrix.dtype))


def _matrix_grad_is_transposed(dtype) -> bool:
    """Whether the output matrix's gradient is accumulated as [D, V] (else [V, D]).

    As [D, V] = f^T @ logits_grad, each chunk's [B*L, V] gradient is the matmul's right operand as
    it lies in memory; as [V, D], XLA's CPU backend copies it transposed every chunk (B*L*V
    floats: about 5 % of the float32 step at vocabulary 32k). The [D, V] sum is transposed once
    after the loop. Only for float32: with bfloat16 operands XLA's CPU backend has no kernel for
    the [D, V] form at small shapes ("BF16 x BF16 = F32" unimplemented), and accelerators, which
    compute in bfloat16, read either operand layout at no cost.
    """
    return jnp.dtype(dtype) == jnp.float32


def _matrix_grad(f, logits_grad):
    """One chunk's contribution to the output matrix's gradient, float32, in the layout
    `_matrix_grad_is_transposed` chooses."""
    if _matrix_grad_is_transposed(f.dtype):
        return jnp.einsum("bld,blv->dv", f, logits_grad, preferred_element_type=jnp.float32)
    return jnp.einsum("blv,bld->vd", logits_grad, f, preferred_element_type=jnp.float32)


def _fused_loss_bwd(z_loss, chunk_length, residuals, cotangents):
    del z_loss, chunk_length
    features_grad, matrix_grad = residuals
    loss_cotangent = cotangents[0]  # the metric sums carry no gradient (see chunked_loss_sums)
    return (features_grad * loss_cotangent.astype(features_grad.dtype),
            matrix_grad * loss_cotangent.astype(matrix_grad.dtype), None, None)


_fused_loss.defvjp(_fused_loss_fwd, _fused_loss_bwd)
