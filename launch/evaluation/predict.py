"""Greedy decoding of seqio model features with the KV cache: t5x's `predict_batch` for our model.

seqio's decoder feature converters (unpacked) give every example `decoder_input_tokens`
(BOS 0, then the inputs, then the targets) and, for text-to-text tasks,
`decoder_causal_attention`, which is 1 on the BOS and the inputs. The prompt is therefore the
first sum(decoder_causal_attention) input tokens ([0] alone for a language-model task); the model
continues it with model/decoding.py until EOS or the targets' length. The output is seqio's
`predict_fn` contract: [(example index, generated token ids up to, not including, EOS)]. Ids past
the task vocabulary's last piece (the embedding's padding) are never generated.

Examples are decoded in batches of a fixed size (the last one padded with copies) and one prompt
width for the whole dataset, so decoding compiles once per dataset.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from model import decoding
from model.config import PalmConfig

log = logging.getLogger("launch")


def prompt_of(features: dict) -> np.ndarray:
    """The decoder prompt of one unbatched example of seqio decoder features."""
    tokens = np.asarray(features["decoder_input_tokens"])
    causal = features.get("decoder_causal_attention")
    length = int(np.sum(causal)) if causal is not None else 1
    return tokens[:max(length, 1)]


def decode_examples(params, config: PalmConfig, examples: Iterable[tuple[int, dict]], *,
                    batch_size: int, max_new_tokens: int | None = None,
                    temperature: float = 0.0, seed: int = 0,
                    vocab_size: int | None = None) -> list[tuple[int, list[int]]]:
    """[(index, generated ids)] for `examples` = (index, features) pairs (seqio's enumerated
    model dataset). `max_new_tokens` defaults to what the features leave after the prompt;
    `vocab_size` is the tokenizer's id count (None: the embedding's)."""
    examples = list(examples)
    if not examples:
        return []
    prompts = [prompt_of(features) for _, features in examples]
    width = max(len(p) for p in prompts)
    if max_new_tokens is None:
        total = len(np.asarray(examples[0][1]["decoder_input_tokens"]))
        max_new_tokens = max(total - min(len(p) for p in prompts), 1)
    results: list[tuple[int, list[int]]] = []
    rng = jax.random.PRNGKey(seed)
    for start in range(0, len(examples), batch_size):
        chunk = list(range(start, min(start + batch_size, len(examples))))
        rows = chunk + [chunk[-1]] * (batch_size - len(chunk))  # pad with copies: fixed shape
        tokens = np.zeros((batch_size, width), np.int32)
        lengths = np.zeros(batch_size, np.int32)
        for row, i in enumerate(rows):
            tokens[row, :len(prompts[i])] = prompts[i]
            lengths[row] = len(prompts[i])
        out = decoding.generate(params, config, jnp.asarray(tokens), jnp.asarray(lengths),
                                max_new_tokens=max_new_tokens, rng=jax.random.fold_in(rng, start),
                                temperature=temperature, vocab_size=vocab_size)
        generated, counts = jax.device_get((out.tokens, out.num_tokens))
        for row, i in enumerate(chunk):
            ids = [int(t) for t in generated[row, :int(counts[row])]]
            if ids and ids[-1] == config.eos_id:
                ids = ids[:-1]
            results.append((examples[i][0], ids))
    return results


def predict_fn(params, config: PalmConfig, batch_size: int, vocab_size: int | None = None):
    """seqio.Evaluator's `predict_fn`: enumerated model dataset -> [(index, token ids)]."""
    def predict(dataset) -> list[tuple[int, list[int]]]:
        return decode_examples(params, config, dataset.as_numpy_iterator(),
                               batch_size=batch_size, vocab_size=vocab_size)
    return predict
