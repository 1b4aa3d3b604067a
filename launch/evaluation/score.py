"""Log-likelihood scores of seqio model features: t5x's `score_batch` for our model.

An example's score is the sum, over the positions its `decoder_loss_weights` select (the targets:
seqio's decoder feature converter zeroes the inputs and the padding), of log p(target token |
previous tokens), in float32, with no z-loss: the number t5x's `infer` writes in mode 'score' and
what seqio's score metric functions (rank classification) receive. Logits are formed one row at a
time from the model's features, so a batch never holds [B, T, vocab] at once.

Examples are scored in batches of a fixed size (the last padded with copies), so scoring compiles
once per feature length.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from model.config import PalmConfig
from model.loss import cross_entropy_with_z_loss
from model.network import PalmModel, output_matrix, project

_FEATURES = ("decoder_input_tokens", "decoder_target_tokens", "decoder_loss_weights")


@functools.partial(jax.jit, static_argnames=("config",))
def score_batch(params, tokens: jax.Array, targets: jax.Array, weights: jax.Array, *,
                config: PalmConfig) -> jax.Array:
    """[B] sums of weighted target log-probabilities of one batch of decoder features."""
    features = PalmModel(config).apply({"params": params}, tokens, return_features=True)
    matrix = output_matrix(params, config)

    def row(args):
        feature_row, target_row, weight_row = args
        cross_entropy, _ = cross_entropy_with_z_loss(project(feature_row, matrix, config),
                                                     target_row, 0.0)
        return -jnp.sum(cross_entropy * weight_row)

    return jax.lax.map(row, (features, targets, weights.astype(jnp.float32)))


def score_examples(params, config: PalmConfig, examples: Iterable[tuple[int, dict]], *,
                   batch_size: int) -> list[tuple[int, float]]:
    """[(index, score)] for `examples` = (index, unbatched seqio decoder features) pairs."""
    examples = list(examples)
    results: list[tuple[int, float]] = []
    for start in range(0, len(examples), batch_size):
        chunk = list(range(start, min(start + batch_size, len(examples))))
        rows = chunk + [chunk[-1]] * (batch_size - len(chunk))  # pad with copies: fixed shape
        arrays = [np.stack([np.asarray(examples[i][1][name]) for i in rows]).astype(np.int32)
                  for name in _FEATURES]
        scores = jax.device_get(score_batch(params, *map(jnp.asarray, arrays), config=config))
        results.extend((examples[i][0], float(scores[row])) for row, i in enumerate(chunk))
    return results


def score_fn(params, config: PalmConfig, batch_size: int):
    """seqio.Evaluator's `score_fn`: enumerated model dataset -> [(index, score)]."""
    def score(dataset) -> list[tuple[int, float]]:
        return score_examples(params, config, dataset.as_numpy_iterator(),
                              batch_size=batch_size)
    return score
