"""Language-model loss: weighted cross-entropy plus PaLM's z-loss, with t5x's metric names.

Per token, with Z the softmax normaliser of the logits:
  cross_ent = log Z - logit[target]
  z_loss    = z_loss_coeff * (log Z)^2       (PaLM Sec. 5: keeps log Z near 0, 1e-4)
Both are weighted by `decoder_loss_weights` (0 on padding and on tokens a task does not train on).
"""

from __future__ import annotations

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
