"""Incremental decoding with a key/value cache, and sampling.

The cache is the model's `cache` collection: per layer one key array and one value array of shape
[B, max_len, head_dim] (multi-query attention: one K head and one V head, whatever the number of
query heads). A token's cache slot is its position in its document, so a row of the cache is the
row's document so far.

`generate` runs the prompt through the model once (prefill: fused causal attention, logits at the
last prompt position only), then one token per step inside a `lax.while_loop` that stops when every
row has produced EOS or `max_new_tokens` tokens.

The embedding is usually wider than the tokenizer (PalmConfig.vocab_size rounded up to a multiple
of 128): ids past the tokenizer's last piece are padding, trained only to be unlikely. Given the
real `vocab_size` (the caller reads it from the tokenizer; this module does no I/O), decoding
never emits them, and scorers use `mask_padding_ids` so a distribution covers real ids only.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from model.config import PalmConfig
from model.network import PalmModel, output_matrix, project

Params = dict


def init_cache(config: PalmConfig, batch_size: int, max_len: int) -> dict:
    """An all-zero cache for `batch_size` rows of up to `max_len` tokens.

    Shapes come from `jax.eval_shape`, so no parameters are created on the way.
    """
    tokens = jnp.zeros((batch_size, max_len), jnp.int32)

    def init(rng):
        return PalmModel(config).init(rng, tokens, positions=tokens, decode=True)["cache"]

    shapes = nn.unbox(jax.eval_shape(init, jax.random.PRNGKey(0)))
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def extend(params: Params, config: PalmConfig, cache: dict, tokens: jax.Array,
           positions: jax.Array) -> tuple[jax.Array, dict]:
    """Appends tokens [B, T] at positions [B, T] (contiguous per row) to the cache.

    Returns the float32 logits [B, T, vocab] of those tokens, which attend to every cached slot up
    to their own position, and the updated cache.
    """
    logits, mutated = PalmModel(config).apply(
        {"params": params, "cache": cache}, tokens, positions=positions, decode=True,
        mutable=["cache"])
    return logits, mutated["cache"]


def prefill(params: Params, config: PalmConfig, cache: dict, tokens: jax.Array,
            lengths: jax.Array) -> tuple[jax.Array, dict]:
    """Runs right-padded prompts [B, P] through an empty cache (positions 0..P-1).

    The prompt attends within itself through the fused causal attention of training, and the
    output layer is applied to one position per row only, the last real token (`lengths` - 1):
    returns its float32 logits [B, vocab] and the filled cache. Slots past a row's length hold
    padding; no query reaches them before generated tokens overwrite them.
    """
    positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)
    features, mutated = PalmModel(config).apply(
        {"params": params, "cache": cache}, tokens, positions=positions, decode=True,
        prefill=True, return_features=True, mutable=["cache"])
    last = jnp.take_along_axis(features, (lengths - 1)[:, None, None], axis=1)[:, 0]
    return project(last, output_matrix(params, config), config), mutated["cache"]


def kth_largest(x: jax.Array, k: int) -> jax.Array:
    """The exact k-th largest value along the last axis of float32 `x` (ties counted), [..., 1].

    Found bit by bit, from the most significant, on an order-preserving map of the floats to
    unsigned integers: 32 rounds of "do at least k values reach this candidate?", each a fused
    compare-and-count over the row. `lax.top_k` gives the same value, but XLA's CPU backend
    lowers it to a full sort of every row, which was 78 % of a sampling step at vocabulary 32k.
    """
    bits = lax.bitcast_convert_type(x.astype(jnp.float32), jnp.uint32)
    negative = (bits >> 31) == 1
    keys = jnp.where(negative, ~bits, bits | jnp.uint32(1 << 31))  # larger float, larger key

    def round_(i, answer):
        candidate = answer | (jnp.uint32(1) << (31 - i).astype(jnp.uint32))
        reached = jnp.sum(keys >= candidate, axis=-1, keepdims=True) >= k
        return jnp.where(reached, candidate, answer)

    answer = lax.fori_loop(0, 32, round_, jnp.zeros(x.shape[:-1] + (1,), jnp.uint32))
    value_bits = jnp.where((answer >> 31) == 1, answer & jnp.uint32(0x7FFFFFFF), ~answer)
    return lax.bitcast_convert_type(value_bits, jnp.float32)


def mask_padding_ids(logits: jax.Array, vocab_size: int | None) -> jax.Array:
    """`logits` [..., V] with the ids >= `vocab_size` (the embedding's padding past the
    tokenizer's pieces) set to -inf; unchanged when `vocab_size` is None or covers V."""
    if vocab_size is None or vocab_size >= logits.shape[-1]:
        return logits
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    real = jnp.arange(logits.shape[-1]) < vocab_size
    return jnp.where(real, logits, -jnp.inf)


def sample_logits(rng: jax.Array, logits: jax.Array, *, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> jax.Array:
    """Draws one token per row from logits [B, V].

    temperature 0 is greedy (argmax). Otherwise the logits are divided by the temperature, then
    top_k > 0 keeps the k largest, then top_p < 1 keeps the smallest set of most likely tokens whose
    probability reaches top_p (the most likely token is always kept). Tokens tied with the last one
    kept are kept too.
    """
    if temperature < 0 or top_k < 0 or not 0.0 < top_p <= 1.0:
        raise ValueError(f"need temperature >= 0, top_k >= 0, 0 < top_p <= 1; got "
                         f"{temperature=}, {top_k=}, {top_p=}")
    logits = logits.astype(jnp.float32)
    if temperature == 0.0:
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        logits = jnp.where(logits < kth_largest(logits, top_k), -jnp.inf, logits)
    if top_p < 1.0:
        descending = -jnp.sort(-logits, axis=-1)
        probs = jax.nn.softmax(descending, axis=-1)
        mass_before = jnp.cumsum(probs, axis=-1) - probs
        smallest_kept = jnp.min(jnp.where(mass_before < top_p, descending, jnp.inf), axis=-1,
                                keepdims=True)
        logits = jnp.where(logits < smallest_kept, -jnp.inf, logits)
    return jax.random.categorical(rng, logits, axis=-1).astype(jnp.int32)


class GenerateOutput(NamedTuple):
    tokens: jax.Array  # [B, max_new_tokens], pad_id after a row's EOS
    num_tokens: jax.Array  # [B], tokens generated per row, EOS included


def generate(params: Params, config: PalmConfig, prompt_tokens: jax.Array,
             prompt_lengths: jax.Array | None = None, *, max_new_tokens: int, rng: jax.Array,
             temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
             eos_id: int | None = None, vocab_size: int | None = None) -> GenerateOutput:
    """Batched generation from prompts, with a KV cache.

    Args:
      params: the model's parameters (unboxed).
      prompt_tokens: [B, P] prompts, right-padded to a common length P.
      prompt_lengths: [B] true prompt lengths, each in 1..P; None means every prompt has length P.
      max_new_tokens: tokens to generate per row at most.
      rng: PRNG key; the same key, prompts and settings give the same tokens.
      temperature, top_k, top_p: see `sample_logits` (temperature 0 is greedy).
      eos_id: a row stops after emitting it; None means config.eos_id, a negative id never stops.
      vocab_size: the tokenizer's number of ids; ids from it up to config.vocab_size (padding)
        are never emitted. None: every id of the embedding may be.
    Each distinct (config, shapes, max_new_tokens, temperature, top_k, top_p, vocab_size)
    compiles once.
    """
    return compile_generate(params, config, prompt_tokens, prompt_lengths,
                            max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                            top_p=top_p, eos_id=eos_id, vocab_size=vocab_size,
                            compile=False)(rng)


def compile_generate(params: Params, config: PalmConfig, prompt_tokens: jax.Array,
                     prompt_lengths: jax.Array | None = None, *, max_new_tokens: int,
                     temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                     eos_id: int | None = None, vocab_size: int | None = None,
                     compile: bool = True):
    """`generate` split in two: compiles now (ahead of time, when `compile`) and returns
    `run(rng) -> GenerateOutput`, so a caller can time the compilation and the decoding apart."""
    batch, prompt_len = prompt_tokens.shape
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    if prompt_lengths is None:
        prompt_lengths = jnp.full((batch,), prompt_len, jnp.int32)
    elif not isinstance(prompt_lengths, jax.core.Tracer):
        lengths = jax.device_get(prompt_lengths)
        if lengths.shape != (batch,) or lengths.min() < 1 or lengths.max() > prompt_len:
            raise ValueError(f"prompt_lengths must be [{batch}] values in 1..{prompt_len}, "
                             f"got {lengths}")
    args = (params, prompt_tokens.astype(jnp.int32), prompt_lengths.astype(jnp.int32))
    eos = jnp.int32(config.eos_id if eos_id is None else eos_id)
    if vocab_size is not None and not 1 <= vocab_size <= config.vocab_size:
        raise ValueError(f"vocab_size must be in 1..{config.vocab_size} (the model's), got "
                         f"{vocab_size}")
    static = dict(config=config, max_new_tokens=int(max_new_tokens),
                  temperature=float(temperature), top_k=int(top_k), top_p=float(top_p),
                  vocab_size=None if vocab_size is None else int(vocab_size))
    if not compile:
        return lambda rng: _generate(*args, rng, eos, **static)
    compiled = _generate.lower(*args, jax.random.PRNGKey(0), eos, **static).compile()
    return lambda rng: compiled(*args, rng, eos)


@functools.partial(jax.jit, static_argnames=("config", "max_new_tokens", "temperature", "top_k",
                                             "top_p", "vocab_size"))
def _generate(params, prompt_tokens, prompt_lengths, rng, eos_id, *, config, max_new_tokens,
              temperature, top_k, top_p, vocab_size):
    def sample(key, logits):
        return sample_logits(key, mask_padding_ids(logits, vocab_size), temperature=temperature,
                             top_k=top_k, top_p=top_p)

    batch, prompt_len = prompt_tokens.shape
    cache = init_cache(config, batch, prompt_len + max_new_tokens)

    # Prefill: the whole padded prompt in one call, logits at each row's last prompt token only.
    last_logits, cache = prefill(params, config, cache, prompt_tokens, prompt_lengths)

    first = sample(jax.random.fold_in(rng, 0), last_logits)
    tokens = jnp.full((batch, max_new_tokens), config.pad_id, jnp.int32).at[:, 0].set(first)
    done = first == eos_id

    def not_finished(state):
        step, _, _, _, done = state
        return (step < max_new_tokens) & ~jnp.all(done)

    def step_fn(state):
        step, tokens, previous, cache, done = state
        # `previous` is generated token step-1, which sits at position prompt_length + step - 1.
        logits, cache = extend(params, config, cache, previous[:, None],
                               (prompt_lengths + step - 1)[:, None])
        token = sample(jax.random.fold_in(rng, step), logits[:, 0])
        token = jnp.where(done, config.pad_id, token)
        tokens = lax.dynamic_update_slice_in_dim(tokens, token[:, None], step, axis=1)
        return step + 1, tokens, token, cache, done | (token == eos_id)

    _, tokens, _, _, _ = lax.while_loop(not_finished, step_fn,
                                        (jnp.int32(1), tokens, first, cache, done))
    is_eos = tokens == eos_id
    num_tokens = jnp.where(jnp.any(is_eos, axis=1), jnp.argmax(is_eos, axis=1) + 1, max_new_tokens)
    return GenerateOutput(tokens=tokens, num_tokens=num_tokens.astype(jnp.int32))
