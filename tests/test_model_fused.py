"""The fast paths of the model against the plain ones: the chunked loss against the full-logits
loss (values and gradients), jax.nn.dot_product_attention against explicit multi-query attention
with packing, prefill with last-position logits against the full forward pass, and bfloat16 compute
with float32 parameters, gradients and optimizer state."""

import math

import hypothesis.extra.numpy as hnp
import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import optimizer, train_step
from model.config import PalmConfig
from model.decoding import init_cache, prefill
from model.layers import attention, attention_implementation
from model.loss import chunked_loss_sums, compute_loss
from model.network import PalmModel, output_matrix, project
from tests.model_params import random_params

TINY = dict(vocab_size=128, num_layers=2, num_heads=4, d_model=32, head_dim=8, dtype="float32")


def tiny(**overrides) -> PalmConfig:
    return PalmConfig(**{**TINY, **overrides})


def packed_batch(config, batch=4, length=12, seed=0):
    """Two documents per row, padding (segment 0, weight 0) at the end of every other row."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(2, config.vocab_size, size=(batch, length + 1)).astype(np.int32)
    segment = np.ones((batch, length), np.int32)
    segment[:, 5:] = 2
    positions = np.concatenate([np.arange(5), np.arange(length - 5)])[None].repeat(batch, 0)
    weights = np.ones((batch, length), np.float32)
    segment[::2, -3:], weights[::2, -3:] = 0, 0
    return {"decoder_input_tokens": tokens[:, :-1], "decoder_target_tokens": tokens[:, 1:],
            "decoder_loss_weights": weights, "decoder_segment_ids": segment,
            "decoder_positions": positions.astype(np.int32)}


# ---------------------------------------------------------------------------------- chunked loss

def full_loss_sums(features, matrix, targets, weights, z_loss):
    logits = jnp.einsum("btd,vd->btv", features, matrix)
    out = compute_loss(logits, targets, weights, z_loss=z_loss, loss_normalizing_factor=1.0)
    return out.loss, (out.cross_ent_loss, out.z_loss, out.weight_sum, out.num_correct)


def chunked(features, matrix, targets, weights, z_loss, chunk):
    out = chunked_loss_sums(features, matrix, targets, weights, z_loss=z_loss, chunk_length=chunk)
    return out.loss_sum, (out.cross_ent_sum, out.z_loss_sum, out.weight_sum, out.num_correct)


@settings(max_examples=12, deadline=None)
@given(batch=st.integers(1, 3), length=st.integers(1, 9), vocab=st.integers(2, 40),
       chunk=st.integers(1, 10), z_loss=st.sampled_from([0.0, 1e-4, 0.3]),
       seed=st.integers(0, 2 ** 16))
def test_chunked_loss_equals_full_logits_loss(batch, length, vocab, chunk, z_loss, seed):
    """Same sums and same gradients (features and output matrix) for any chunk length, including
    ones that do not divide the length, with zero weights present."""
    rng = np.random.default_rng(seed)
    features = jnp.asarray(2.0 * rng.normal(size=(batch, length, 6)), jnp.float32)
    matrix = jnp.asarray(rng.normal(size=(vocab, 6)), jnp.float32)
    targets = jnp.asarray(rng.integers(0, vocab, size=(batch, length)), jnp.int32)
    weights = jnp.asarray(rng.integers(0, 3, size=(batch, length)), jnp.float32)

    want, want_aux = full_loss_sums(features, matrix, targets, weights, z_loss)
    got, got_aux = chunked(features, matrix, targets, weights, z_loss, chunk)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    for g, w in zip(got_aux, want_aux):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)

    grad_want = jax.grad(lambda f, m: full_loss_sums(f, m, targets, weights, z_loss)[0],
                         argnums=(0, 1))(features, matrix)
    grad_got = jax.grad(lambda f, m: chunked(f, m, targets, weights, z_loss, chunk)[0],
                        argnums=(0, 1))(features, matrix)
    for g, w in zip(grad_got, grad_want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)


def test_chunked_loss_gradient_scales_with_the_cotangent_and_metrics_carry_none():
    rng = np.random.default_rng(0)
    features = jnp.asarray(rng.normal(size=(2, 5, 4)), jnp.float32)
    matrix = jnp.asarray(rng.normal(size=(7, 4)), jnp.float32)
    targets = jnp.asarray(rng.integers(0, 7, size=(2, 5)), jnp.int32)
    one = jax.grad(lambda f: chunked(f, matrix, targets, None, 1e-4, 2)[0])(features)
    three = jax.grad(lambda f: 3.0 * chunked(f, matrix, targets, None, 1e-4, 2)[0])(features)
    np.testing.assert_allclose(three, 3.0 * one, rtol=1e-6)
    metric_grad = jax.grad(lambda f: chunked(f, matrix, targets, None, 1e-4, 2)[1][0])(features)
    assert not np.any(metric_grad)


def test_chunk_length_must_be_positive():
    with pytest.raises(ValueError, match="chunk_length must be >= 1"):
        chunked_loss_sums(jnp.zeros((1, 2, 3)), jnp.zeros((4, 3)), jnp.zeros((1, 2), jnp.int32),
                          None, z_loss=0.0, chunk_length=0)
    with pytest.raises(ValueError, match="loss_chunk_length must be >= 0"):
        tiny(loss_chunk_length=-1)


@pytest.mark.parametrize("logits_via_embedding", [True, False], ids=["tied", "untied"])
def test_train_step_with_chunked_loss_matches_full_logits(logits_via_embedding):
    """The whole Adafactor step on a packed batch: same metrics and updated parameters."""
    tx = optimizer.adafactor(optimizer.rsqrt_schedule())
    full_cfg = tiny(logits_via_embedding=logits_via_embedding)
    chunk_cfg = tiny(logits_via_embedding=logits_via_embedding, loss_chunk_length=5)
    state = train_step.TrainState(step=jnp.zeros((), jnp.int32),
                                  params=random_params(full_cfg),
                                  opt_state=tx.init(random_params(full_cfg)))
    batch = {k: jnp.asarray(v) for k, v in packed_batch(full_cfg).items()}
    full_state, full_metrics = jax.jit(train_step.make_train_step(full_cfg, tx))(state, batch)
    chunk_state, chunk_metrics = jax.jit(train_step.make_train_step(chunk_cfg, tx))(state, batch)
    for key in ("loss", "cross_ent_loss", "z_loss", "accuracy", "weight_sum", "grad_norm"):
        np.testing.assert_allclose(chunk_metrics[key], full_metrics[key], rtol=2e-5, err_msg=key)
    for a, b in zip(jax.tree.leaves(chunk_state.params), jax.tree.leaves(full_state.params)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    eval_full = train_step.make_eval_step(full_cfg)(state.params, batch)
    eval_chunk = train_step.make_eval_step(chunk_cfg)(state.params, batch)
    for key in train_step.SUM_KEYS:
        np.testing.assert_allclose(eval_chunk[key], eval_full[key], rtol=2e-5, err_msg=key)


def test_features_times_output_matrix_are_the_logits():
    for tied in (True, False):
        cfg = tiny(logits_via_embedding=tied)
        params = random_params(cfg)
        tokens = jnp.asarray(np.random.default_rng(1).integers(2, 128, size=(2, 6)), jnp.int32)
        logits = PalmModel(cfg).apply({"params": params}, tokens)
        features = PalmModel(cfg).apply({"params": params}, tokens, return_features=True)
        np.testing.assert_allclose(project(features, output_matrix(params, cfg), cfg), logits,
                                   rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------------------------- attention

def reference_attention(query, key, value, mask):
    """The model's attention before jax.nn.dot_product_attention: explicit scores over all S keys
    for each of the H heads against the one K/V head, masked, softmax, weighted values."""
    query = query * query.shape[-1] ** -0.5
    scores = jnp.einsum("bthq,bsq->bths", query, key, preferred_element_type=jnp.float32)
    scores = jnp.where(mask[:, :, None, :], scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(value.dtype)
    return jnp.einsum("bths,bsq->bthq", probs, value)


@settings(max_examples=15, deadline=None)
@given(segments=hnp.arrays(np.int32, (2, 7), elements=st.integers(0, 2)),
       seed=st.integers(0, 2 ** 16))
def test_attention_matches_explicit_causal_packed_mqa(segments, seed):
    """Causal masking and segment-id packing exact; the single K/V head serves all query heads."""
    segments = np.sort(segments, axis=1)  # packed rows: documents are contiguous
    cfg = tiny(num_heads=3, head_dim=4, attention_impl="xla")
    rng = np.random.default_rng(seed)
    query = jnp.asarray(rng.normal(size=(2, 7, 3, 4)), jnp.float32)
    key = jnp.asarray(rng.normal(size=(2, 7, 4)), jnp.float32)
    value = jnp.asarray(rng.normal(size=(2, 7, 4)), jnp.float32)
    causal = np.tril(np.ones((7, 7), bool))[None]
    same_doc = segments[:, :, None] == segments[:, None, :]
    want = reference_attention(query, key, value, causal & same_doc)
    got = attention(query, key, value, mask=jnp.asarray(same_doc)[:, None], causal=True,
                    config=cfg)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    unpacked = attention(query, key, value, mask=None, causal=True, config=cfg)
    np.testing.assert_allclose(unpacked, reference_attention(query, key, value, causal),
                               rtol=1e-5, atol=1e-5)


def test_attention_never_copies_kv_per_head():
    """No array of the compiled attention has H x the K/V size with a head axis of K/V: the
    scores are the only [.., H, .., S] arrays, and K/V enter the matmuls with one head."""
    cfg = tiny(num_heads=8, head_dim=4, attention_impl="xla")
    query = jnp.zeros((1, 16, 8, 4))
    kv = jnp.zeros((1, 16, 4))
    jaxpr = jax.make_jaxpr(lambda q, k, v: attention(q, k, v, mask=None, causal=True,
                                                     config=cfg))(query, kv, kv)
    for eqn in jaxpr.jaxpr.eqns:
        if eqn.primitive.name in ("broadcast_in_dim", "concatenate", "tile"):
            shape = eqn.outvars[0].aval.shape
            assert not (16 in shape and 4 in shape and 8 in shape and math.prod(shape) >= 512), \
                f"K/V copied per head: {eqn}"


def test_attention_implementation_choice():
    assert attention_implementation(tiny(attention_impl="xla")) == "xla"
    assert attention_implementation(tiny(attention_impl="cudnn")) == "cudnn"
    expected = "cudnn" if jax.default_backend() == "gpu" else "xla"
    assert attention_implementation(tiny(attention_impl="auto", dtype="bfloat16")) == expected
    assert attention_implementation(tiny(attention_impl="auto", dtype="float32")) == "xla"
    with pytest.raises(ValueError, match="attention_impl must be one of"):
        tiny(attention_impl="flash")


# --------------------------------------------------------------------------------------- prefill

@pytest.mark.parametrize("scan_layers", [False, True], ids=["unrolled", "scanned"])
def test_prefill_gives_last_position_logits_and_the_same_cache(scan_layers):
    cfg = tiny(scan_layers=scan_layers)
    params = random_params(cfg)
    prompts = jnp.asarray([[5, 17, 9, 30, 41, 7], [88, 3, 0, 0, 0, 0]], jnp.int32)
    lengths = jnp.asarray([6, 2], jnp.int32)
    full = PalmModel(cfg).apply({"params": params}, prompts)
    cache = init_cache(cfg, batch_size=2, max_len=9)
    last, filled = jax.jit(prefill, static_argnums=1)(params, cfg, cache, prompts, lengths)
    assert last.shape == (2, cfg.vocab_size)
    np.testing.assert_allclose(last[0], full[0, 5], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(last[1], full[1, 1], rtol=1e-5, atol=1e-5)
    positions = jnp.broadcast_to(jnp.arange(6), prompts.shape)
    _, extended = PalmModel(cfg).apply({"params": params, "cache": cache}, prompts,
                                       positions=positions, decode=True, mutable=["cache"])
    for a, b in zip(jax.tree.leaves(filled), jax.tree.leaves(extended["cache"])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_prefill_needs_decode():
    cfg = tiny()
    with pytest.raises(ValueError, match="prefill=True is a decode-mode call"):
        PalmModel(cfg).init(jax.random.PRNGKey(0), jnp.zeros((1, 2), jnp.int32), prefill=True)


# ------------------------------------------------------------------------------ mixed precision

@pytest.mark.parametrize("chunk", [4, 64])  # 64: one chunk, longer than the rows (padded)
def test_bfloat16_compute_keeps_float32_params_grads_optimizer_state_and_loss(chunk):
    cfg = tiny(dtype="bfloat16", loss_chunk_length=chunk)
    tx = optimizer.adafactor(optimizer.rsqrt_schedule())
    params = random_params(cfg)
    state = train_step.TrainState(step=jnp.zeros((), jnp.int32), params=params,
                                  opt_state=tx.init(params))
    batch = {k: jnp.asarray(v) for k, v in packed_batch(cfg).items()}
    step = train_step.make_train_step(cfg, tx)
    new_state, metrics = jax.jit(step)(state, batch)
    float_leaves = [x for x in jax.tree.leaves((new_state.params, new_state.opt_state))
                    if jnp.issubdtype(x.dtype, jnp.floating)]
    assert float_leaves and {x.dtype for x in float_leaves} == {jnp.dtype(jnp.float32)}
    assert metrics["loss"].dtype == jnp.float32 and np.isfinite(metrics["loss"])
    # Every matmul of the step multiplies bfloat16 operands (the attention backward of JAX's XLA
    # implementation passes a float32 cotangent with the bf16 x bf16 -> f32 dot algorithm).
    jaxpr = jax.make_jaxpr(step)(state, batch)
    dots = []

    def collect(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                dtypes = tuple(v.aval.dtype for v in eqn.invars)
                bf16_algorithm = str(eqn.params["precision"]) == "BF16_BF16_F32"
                dots.append((jnp.bfloat16, jnp.bfloat16) if bf16_algorithm else dtypes)
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                collect(sub)

    collect(jaxpr.jaxpr)
    assert dots and all(d == (jnp.bfloat16, jnp.bfloat16) for d in dots), set(dots)
    # ... and the loss agrees with float32 compute to bfloat16 precision.
    _, metrics32 = jax.jit(train_step.make_train_step(tiny(loss_chunk_length=chunk), tx))(state,
                                                                                         batch)
    np.testing.assert_allclose(metrics["loss"], metrics32["loss"], rtol=3e-2)
