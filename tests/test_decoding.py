"""KV-cache decoding and sampling: cache == full forward, greedy == uncached greedy, EOS, seeds,
top-k/top-p bounds."""

import functools

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.config import PalmConfig
from model.decoding import extend, generate, init_cache, kth_largest, sample_logits
from model.network import PalmModel
from tests.model_params import random_params

TINY = dict(vocab_size=512, num_layers=2, num_heads=4, d_model=64, head_dim=16, dtype="float32")


def tiny(**overrides) -> PalmConfig:
    return PalmConfig(**{**TINY, **overrides})


@functools.partial(jax.jit, static_argnums=0)
def full_forward(config, params, tokens):
    return PalmModel(config).apply({"params": params}, tokens)


PROMPTS = np.array([[5, 17, 9, 300, 41, 7],
                    [88, 3, 0, 0, 0, 0],
                    [250, 60, 61, 62, 0, 0]], np.int32)
PROMPT_LENGTHS = np.array([6, 2, 4], np.int32)


@pytest.mark.parametrize("scan_layers", [False, True], ids=["unrolled", "scanned"])
def test_cached_logits_equal_full_forward(scan_layers):
    cfg = tiny(scan_layers=scan_layers)
    params = random_params(cfg)
    rng = np.random.default_rng(0)
    continuation = rng.integers(2, cfg.vocab_size, size=(3, 5)).astype(np.int32)
    max_len = PROMPTS.shape[1] + continuation.shape[1]
    cache = init_cache(cfg, batch_size=3, max_len=max_len)
    # One K and one V head per layer: [B, max_len, head_dim] (stacked over layers when scanned).
    expected_shape = (3, max_len, cfg.head_dim)
    if scan_layers:
        expected_shape = (cfg.num_layers,) + expected_shape
    assert {leaf.shape for leaf in jax.tree.leaves(cache)} == {expected_shape}

    # The full forward pass over each row's whole sequence (prompt, then continuation, then
    # padding); attention is causal, so its logits at a position are those of that prefix.
    sequences = np.zeros((3, max_len), np.int32)
    for b, length in enumerate(PROMPT_LENGTHS):
        sequences[b, :length + 5] = np.concatenate([PROMPTS[b, :length], continuation[b]])
    full = full_forward(cfg, params, sequences)

    step = jax.jit(extend, static_argnums=1)
    positions = np.broadcast_to(np.arange(PROMPTS.shape[1]), PROMPTS.shape)
    prefill_logits, cache = step(params, cfg, cache, PROMPTS, positions)
    for b, length in enumerate(PROMPT_LENGTHS):
        np.testing.assert_allclose(prefill_logits[b, :length], full[b, :length], atol=1e-5)
    for i in range(continuation.shape[1]):  # each row continues from its own length
        logits, cache = step(params, cfg, cache, continuation[:, i:i + 1],
                             (PROMPT_LENGTHS + i)[:, None])
        for b, length in enumerate(PROMPT_LENGTHS):
            np.testing.assert_allclose(logits[b, 0], full[b, length + i], atol=1e-5)


def uncached_greedy(cfg, params, prompt, steps):
    """Greedy decoding the slow way: a full forward pass over the whole sequence for every token
    (in a fixed-size buffer, so that it compiles once; the causal mask hides the zeros after it)."""
    buffer = np.zeros((1, PROMPTS.shape[1] + steps), np.int32)
    buffer[0, :len(prompt)] = prompt
    for i in range(len(prompt), len(prompt) + steps):
        buffer[0, i] = int(jnp.argmax(full_forward(cfg, params, buffer)[0, i - 1]))
    return list(buffer[0, len(prompt):len(prompt) + steps])


@pytest.mark.parametrize("scan_layers", [False, True], ids=["unrolled", "scanned"])
def test_greedy_generation_equals_uncached_greedy(scan_layers):
    cfg = tiny(scan_layers=scan_layers)
    params = random_params(cfg)
    out = generate(params, cfg, PROMPTS, PROMPT_LENGTHS, max_new_tokens=6,
                   rng=jax.random.PRNGKey(0), temperature=0.0, eos_id=-1)
    assert out.tokens.shape == (3, 6)
    np.testing.assert_array_equal(out.num_tokens, [6, 6, 6])
    for b, length in enumerate(PROMPT_LENGTHS):
        assert list(out.tokens[b]) == uncached_greedy(cfg, params, PROMPTS[b, :length], 6)


def test_generation_stops_at_eos():
    cfg = tiny()  # the settings of the greedy test above: the compiled generate is reused
    params = random_params(cfg)
    free = generate(params, cfg, PROMPTS, PROMPT_LENGTHS, max_new_tokens=6,
                    rng=jax.random.PRNGKey(0), temperature=0.0, eos_id=-1).tokens
    eos = int(free[0, 2])  # make row 0's third token the end-of-document token
    out = generate(params, cfg, PROMPTS, PROMPT_LENGTHS, max_new_tokens=6,
                   rng=jax.random.PRNGKey(0), temperature=0.0, eos_id=eos)
    for b in range(3):
        row = list(np.asarray(free[b]))
        stop = row.index(eos) + 1 if eos in row else 6
        assert int(out.num_tokens[b]) == stop
        assert list(out.tokens[b, :stop]) == row[:stop]
        assert all(t == cfg.pad_id for t in out.tokens[b, stop:])
    assert int(out.num_tokens[0]) <= 3


SAMPLING = dict(max_new_tokens=6, temperature=1.0, top_k=3, top_p=0.95, eos_id=-1)


def test_sampling_is_reproducible_with_a_seed():
    cfg = tiny()
    params = random_params(cfg)
    run = functools.partial(generate, params, cfg, PROMPTS, PROMPT_LENGTHS, **SAMPLING)
    first = run(rng=jax.random.PRNGKey(7)).tokens
    np.testing.assert_array_equal(run(rng=jax.random.PRNGKey(7)).tokens, first)
    assert not np.array_equal(run(rng=jax.random.PRNGKey(8)).tokens, first)


def test_generated_tokens_respect_top_k_of_the_model():
    cfg = tiny()
    params = random_params(cfg)
    out = generate(params, cfg, PROMPTS, PROMPT_LENGTHS, rng=jax.random.PRNGKey(3), **SAMPLING)
    sequences = np.zeros((3, PROMPTS.shape[1] + 6), np.int32)
    for b, length in enumerate(PROMPT_LENGTHS):
        sequences[b, :length + 6] = np.concatenate([PROMPTS[b, :length], out.tokens[b]])
    logits = np.asarray(full_forward(cfg, params, sequences))
    for b, length in enumerate(PROMPT_LENGTHS):
        for i in range(6):
            assert out.tokens[b, i] in np.argsort(-logits[b, length - 1 + i])[:3]


def nucleus(logits: np.ndarray, top_p: float) -> set[int]:
    """The smallest set of most likely tokens whose probability reaches top_p."""
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-probs)
    kept, mass = set(), 0.0
    for token in order:
        if mass >= top_p:
            break
        kept.add(int(token))
        mass += probs[token]
    return kept


# One vocabulary size and a few k / top_p values, so that each setting compiles once.
VOCAB = 32
distinct_logits = hnp.arrays(np.float32, VOCAB, unique=True, elements=st.floats(-8, 8, width=32))
jitted_sample = jax.jit(sample_logits, static_argnames=("temperature", "top_k", "top_p"))


@settings(max_examples=30, deadline=None)
@given(logits=distinct_logits, k=st.sampled_from([1, 2, 5, 31, 32, 40]),
       seed=st.integers(0, 2**31 - 1))
def test_top_k_samples_stay_in_the_top_k(logits, k, seed):
    draws = jitted_sample(jax.random.PRNGKey(seed), jnp.broadcast_to(logits, (256, VOCAB)),
                          temperature=1.5, top_k=k)
    drawn = set(np.asarray(draws).tolist())
    assert drawn <= set(np.argsort(-logits)[:k].tolist())
    top2 = np.sort(logits)[-2:]
    if k >= 2 and top2[1] - top2[0] < 1.0:  # the runner-up has probability > 1/3: it shows up
        assert len(drawn) > 1


jitted_kth = jax.jit(kth_largest, static_argnums=1)


@settings(max_examples=60, deadline=None)
@given(rows=hnp.arrays(np.float32, (3, VOCAB), elements=st.one_of(
           st.floats(width=32, allow_nan=False, allow_infinity=False),
           st.sampled_from([0.0, -0.0, 1.0, -np.inf]))),
       k=st.sampled_from([1, 2, 5, 31, 32]))
def test_kth_largest_equals_the_sorted_value(rows, k):
    """Ties, signed zeros, -inf (masked logits) and any magnitude: the k-th value of a sort."""
    expected = -np.sort(-rows, axis=-1)[:, k - 1:k]
    np.testing.assert_array_equal(np.asarray(jitted_kth(jnp.asarray(rows), k)), expected)


@settings(max_examples=30, deadline=None)
@given(logits=distinct_logits, top_p=st.sampled_from([0.05, 0.3, 0.5, 0.8, 0.95, 0.99]),
       seed=st.integers(0, 2**31 - 1))
def test_top_p_samples_stay_in_the_nucleus(logits, top_p, seed):
    draws = jitted_sample(jax.random.PRNGKey(seed), jnp.broadcast_to(logits, (256, VOCAB)),
                          temperature=1.0, top_p=top_p)
    # The reference is computed in float64; 1e-5 of slack absorbs float32 rounding of the mass.
    assert set(np.asarray(draws).tolist()) <= nucleus(logits.astype(np.float64), top_p + 1e-5)


def test_sampling_follows_the_tempered_distribution():
    logits = jnp.array([2.0, 1.0, 0.0, -1.0, 0.5])
    draws = sample_logits(jax.random.PRNGKey(0), jnp.broadcast_to(logits, (40_000, 5)),
                          temperature=2.0)
    frequencies = np.bincount(np.asarray(draws), minlength=5) / 40_000
    np.testing.assert_allclose(frequencies, jax.nn.softmax(logits / 2.0), atol=0.01)
    # Temperature 0, top_k 1 and a tiny top_p are all greedy.
    batch = jax.random.normal(jax.random.PRNGKey(1), (64, 100))
    greedy = jnp.argmax(batch, axis=-1)
    key = jax.random.PRNGKey(2)
    np.testing.assert_array_equal(sample_logits(key, batch, temperature=0.0), greedy)
    np.testing.assert_array_equal(sample_logits(key, batch, top_k=1), greedy)
    np.testing.assert_array_equal(sample_logits(key, batch, top_p=1e-6), greedy)
    with pytest.raises(ValueError):
        sample_logits(key, batch, top_p=0.0)


def test_prompt_lengths_are_checked():
    cfg = tiny()
    params = random_params(cfg)
    with pytest.raises(ValueError, match="prompt_lengths"):
        generate(params, cfg, PROMPTS, np.array([6, 0, 4]), max_new_tokens=2,
                 rng=jax.random.PRNGKey(0))


@pytest.mark.parametrize("temperature", [0.0, 1.0], ids=["greedy", "sampled"])
def test_padding_ids_past_the_tokenizer_are_never_generated(temperature):
    """An embedding of 512 ids over a 400-id tokenizer: with the padding rows made the likeliest
    (as in a young model, where they are not yet pushed down), the tokens stay below 400."""
    cfg = tiny(eos_id=-1)
    params = random_params(cfg)
    embedding = params["embedder"]["embedding"]
    params["embedder"]["embedding"] = embedding.at[400:].multiply(20.0)
    kwargs = dict(max_new_tokens=8, rng=jax.random.PRNGKey(0), temperature=temperature)
    unmasked = generate(params, cfg, PROMPTS, PROMPT_LENGTHS, **kwargs).tokens
    assert (np.asarray(unmasked) >= 400).any()  # the case the mask is for
    masked = generate(params, cfg, PROMPTS, PROMPT_LENGTHS, vocab_size=400, **kwargs).tokens
    assert (np.asarray(masked) < 400).all()


@settings(deadline=None, max_examples=30)
@given(hnp.arrays(np.float32, (2, 16), elements=st.floats(-50, 50, width=32)),
       st.integers(1, 16))
def test_mask_padding_ids_keeps_the_real_ids_only(logits, vocab_size):
    from model.decoding import mask_padding_ids

    masked = np.asarray(mask_padding_ids(jnp.asarray(logits), vocab_size))
    np.testing.assert_array_equal(masked[:, :vocab_size], logits[:, :vocab_size])
    assert np.isneginf(masked[:, vocab_size:]).all()
