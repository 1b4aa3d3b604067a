"""model/train_step.py and launch/trainer.py: exact microbatching, state shardings, donation."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from launch.partitioning import PjitPartitioner, standard_logical_axis_rules
from launch.trainer import Trainer
from model import optimizer, train_step
from model.config import PalmConfig

TINY = PalmConfig(vocab_size=128, num_layers=1, num_heads=2, d_model=32, head_dim=16,
                  dtype="float32")


def packed_batch(batch=8, length=16, seed=0):
    """A packed batch: 2 documents per row, padding at the end of some rows."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(2, TINY.vocab_size, size=(batch, length)).astype(np.int32)
    segment = np.ones((batch, length), np.int32)
    segment[:, length // 2:] = 2
    positions = np.concatenate([np.arange(length // 2)] * 2)[None].repeat(batch, 0)
    weights = np.ones((batch, length), np.int32)
    weights[::3, -5:] = 0  # rows with padding: microbatches have different token counts
    segment[::3, -5:] = 0
    inputs = np.concatenate([np.zeros((batch, 1), np.int32), tokens[:, :-1]], 1)
    return {"decoder_input_tokens": inputs, "decoder_target_tokens": tokens,
            "decoder_loss_weights": weights, "decoder_segment_ids": segment,
            "decoder_positions": positions.astype(np.int32)}


def test_microbatching_is_exact():
    """M microbatches accumulate raw sums and normalise once: the same loss, gradient norm and
    updated parameters as one big batch (up to float summation order)."""
    tx = optimizer.adafactor(optimizer.rsqrt_schedule())
    state0 = jax.jit(train_step.init_state, static_argnums=(0, 1))(TINY, tx, jax.random.PRNGKey(0))
    batch = {k: jnp.asarray(v) for k, v in packed_batch().items()}
    results = {}
    for m in (1, 4):
        step = jax.jit(train_step.make_train_step(TINY, tx, optimizer.rsqrt_schedule(), m))
        results[m] = step(state0, batch)
    (s1, m1), (s4, m4) = results[1], results[4]
    for key in ("loss", "cross_ent_loss", "z_loss", "accuracy", "weight_sum", "grad_norm"):
        np.testing.assert_allclose(m1[key], m4[key], rtol=2e-6, err_msg=key)
    for a, b in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s4.params)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_microbatches_must_divide_the_batch():
    tx = optimizer.adafactor(optimizer.rsqrt_schedule())
    state0 = jax.eval_shape(functools.partial(train_step.init_state, TINY, tx),
                            jax.random.PRNGKey(0))
    batch = {k: jnp.asarray(v) for k, v in packed_batch(batch=6).items()}
    with pytest.raises(ValueError, match="not divisible by num_microbatches=4"):
        jax.eval_shape(train_step.make_train_step(TINY, tx, None, 4), state0, batch)


def test_optimizer_state_is_sharded_like_its_parameters():
    tx = optimizer.adafactor(optimizer.rsqrt_schedule())
    rules = standard_logical_axis_rules(parameter_partitioning_dims=2)
    specs = train_step.state_partition_specs(TINY, tx, rules)
    gate = specs.params["layers_0"]["mlp"]["wi_gate"]["kernel"]
    assert gate == P("data", "model")
    nu = specs.opt_state[1][0].v["layers_0"]["mlp"]["wi_gate"]["kernel"]
    assert nu == gate  # Adafactor's second moment mirrors the kernel
    assert specs.opt_state[1][0].count == P()
    assert specs.step == P()


def test_trainer_step_donates_state_and_counts_compilations():
    trainer = Trainer(TINY, PjitPartitioner(), num_microbatches=2)
    state = trainer.init_state(0)
    batch = trainer.partitioner.make_global_batch(packed_batch())
    new_state, metrics = trainer.train_step(state, batch)
    assert int(new_state.step) == 1 and np.isfinite(float(metrics["loss"]))
    assert metrics["learning_rate"] == pytest.approx(1e-2)
    leaf = jax.tree.leaves(state.params)[0]
    assert leaf.is_deleted()  # donated: its buffer was reused for the new state
    trainer.train_step(new_state, batch)
    assert trainer.trace_count == 1
