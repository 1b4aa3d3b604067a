"""model/optimizer.py: PaLM's schedule and Adafactor settings, t5x's factor schedules, AdamW."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from launch.utils import create_learning_rate_scheduler
from model import optimizer


@given(st.integers(min_value=0, max_value=10_000_000))
@settings(max_examples=200, deadline=None)
def test_palm_schedule_is_1e_2_then_inverse_sqrt(step):
    lr = float(optimizer.rsqrt_schedule()(step))
    expected = 1e-2 if step < 10_000 else 1 / np.sqrt(step)
    assert lr == pytest.approx(expected, rel=1e-5)


@given(st.integers(min_value=0, max_value=1_000_000))
@settings(max_examples=100, deadline=None)
def test_t5x_constant_rsqrt_decay_is_palm_schedule(step):
    t5x = create_learning_rate_scheduler(factors="constant * rsqrt_decay",
                                         base_learning_rate=1.0, warmup_steps=10_000)
    assert float(t5x(step)) == pytest.approx(float(optimizer.rsqrt_schedule()(step)), rel=1e-5)


def test_t5x_factors_warmup_and_errors():
    schedule = optimizer.t5x_factor_schedule("constant * linear_warmup", base_learning_rate=2.0,
                                             warmup_steps=100)
    assert float(schedule(50)) == pytest.approx(1.0)
    assert float(schedule(500)) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unknown learning-rate factor.*'cosine'"):
        optimizer.t5x_factor_schedule("constant * cosine")


def test_cosine_schedule_warms_up_and_ends_at_ratio():
    schedule = optimizer.cosine_schedule(peak_learning_rate=1.0, warmup_steps=10,
                                         total_steps=110, end_learning_rate_ratio=0.1)
    assert float(schedule(0)) == 0.0
    assert float(schedule(10)) == pytest.approx(1.0)
    assert float(schedule(110)) == pytest.approx(0.1)


def _params():
    rng = np.random.default_rng(0)
    return {"w": jnp.asarray(rng.normal(size=(8, 4)), jnp.float32),
            "b": jnp.asarray(rng.normal(size=(4,)), jnp.float32)}


def test_weight_decay_is_lr_squared():
    """With zero gradients the only change is PaLM's decay p <- p - lr(step)^2 p."""
    lr = lambda step: jnp.float32(0.1)  # noqa: E731
    tx = optimizer.adafactor(lr)
    params = _params()
    state = tx.init(params)
    updates, _ = tx.update(jax.tree.map(jnp.zeros_like, params), state, params)
    new = optax.apply_updates(params, updates)
    for key in params:
        np.testing.assert_allclose(new[key], params[key] * (1 - 0.01), rtol=1e-6)


def test_second_moment_uses_beta2_one_minus_step_pow_minus_0_8():
    """Unfactored: nu_t = beta2(t) nu_{t-1} + (1 - beta2(t)) g^2 with beta2(t) = 1 - t^-0.8
    (t = 1 for the first update, so nu_1 = g^2)."""
    tx = optimizer.adafactor(lambda s: 1e-2, clip_gradient_norm=None, weight_decay=None)
    params = _params()
    state = tx.init(params)
    g1 = jax.tree.map(lambda p: 0.5 * p, params)
    g2 = jax.tree.map(lambda p: -0.3 * p + 0.1, params)
    _, state = tx.update(g1, state, params)
    _, state = tx.update(g2, state, params)
    factored_state = state[0]
    beta2 = 1 - 2.0 ** -0.8
    for key in params:
        expected = beta2 * (g1[key] ** 2 + 1e-30) + (1 - beta2) * (g2[key] ** 2 + 1e-30)
        np.testing.assert_allclose(factored_state.v[key], expected, rtol=1e-5)
        assert factored_state.v_row[key].shape == (1,)  # unfactored: no row/column statistics


def test_global_norm_clipping_bounds_the_gradient_seen_by_adafactor():
    tx = optimizer.adafactor(lambda s: 1e-2, weight_decay=None)
    params = _params()
    state = tx.init(params)
    huge = jax.tree.map(lambda p: 1e3 * jnp.ones_like(p), params)
    _, state = tx.update(huge, state, params)
    # nu_1 = (clipped g)^2, and the clipped gradient has global norm 1.
    nu = state[1][0].v
    assert float(sum(jnp.sum(v) for v in jax.tree.leaves(nu))) == pytest.approx(1.0, rel=1e-4)


def test_adamw_decays_and_moves_against_the_gradient():
    tx = optimizer.adamw(lambda s: 1e-2, weight_decay=0.0)
    params = _params()
    grads = jax.tree.map(jnp.ones_like, params)
    updates, _ = tx.update(grads, tx.init(params), params)
    assert all(bool(jnp.all(u < 0)) for u in jax.tree.leaves(updates))
