"""The pieces of a PaLM layer: bias-free dense and layer norm, RoPE, multi-query attention, SwiGLU
MLP, and the parallel block that combines them.

Every parameter is created through `nn.with_logical_partitioning` and every main activation passes
through `nn.with_logical_constraint`, both with t5x's logical axis names (batch, length, embed, mlp,
heads, kv, joined_kv, vocab; `layers` is added by `nn.scan`). Without axis rules in scope the
constraints are no-ops; with rules and a mesh (model/partitioning.py) they place every array, so
sharding needs no code change.

Shapes: B batch, T query length, S key length, D d_model, H heads, Q head_dim, F d_ff.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from model.config import PalmConfig

# PaLM Sec. 5: kernels N(0, 1/sqrt(fan_in)), embeddings N(0, 1). "normal" is the untruncated normal.
kernel_init = nn.initializers.variance_scaling(1.0, "fan_in", "normal")
embedding_init = nn.initializers.normal(stddev=1.0)

_FUSED_DTYPES = (jnp.bfloat16, jnp.float16)  # the dtypes cuDNN's flash attention takes


def attention_implementation(config: PalmConfig) -> str:
    """"xla" or "cudnn": the `implementation` given to `jax.nn.dot_product_attention`."""
    if config.attention_impl != "auto":
        return config.attention_impl
    fused = jax.default_backend() == "gpu" and config.compute_dtype in _FUSED_DTYPES
    return "cudnn" if fused else "xla"


def attention(query: jax.Array, key: jax.Array, value: jax.Array, *, mask: jax.Array | None,
              causal: bool, config: PalmConfig) -> jax.Array:
    """Multi-query attention through `jax.nn.dot_product_attention`.

    query [B, T, H, Q]; key and value [B, S, Q], the single head shared by all H query heads. They
    go in as [B, S, 1, Q]: JAX treats one K/V head against H query heads as grouped-query
    attention and broadcasts it (XLA: the head axis is vmapped over an unbatched K/V; cuDNN: native
    GQA), so K and V are never copied per head. `mask` [B, 1, T, S] (True: may attend) is combined
    with the causal mask when `causal`. Scores and softmax are float32 whatever the input dtype.
    Under "auto", shapes cuDNN refuses (e.g. a head_dim over its limit) fall back to XLA.
    """
    implementation = attention_implementation(config)
    kwargs = dict(mask=mask, is_causal=causal, scale=config.head_dim ** -0.5)
    key, value = key[:, :, None, :], value[:, :, None, :]
    if implementation == "cudnn" and config.attention_impl == "auto":
        try:
            return jax.nn.dot_product_attention(query, key, value, implementation="cudnn",
                                                **kwargs)
        except (NotImplementedError, ValueError, RuntimeError):
            implementation = "xla"
    return jax.nn.dot_product_attention(query, key, value, implementation=implementation,
                                        **kwargs)


def constrain(x: jax.Array, axes: Sequence[str]) -> jax.Array:
    return nn.with_logical_constraint(x, tuple(axes))


class Dense(nn.Module):
    """x[..., in] @ kernel[in, out], no bias, kernel initialised N(0, 1/sqrt(in))."""

    features: int
    kernel_axes: tuple[str, str]
    config: PalmConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.with_logical_partitioning(kernel_init, self.kernel_axes),
            (x.shape[-1], self.features), self.config.parameter_dtype)
        dtype = self.config.compute_dtype
        return jnp.einsum("...i,io->...o", x.astype(dtype), kernel.astype(dtype))


class LayerNorm(nn.Module):
    """Layer norm with a learned scale and no bias (PaLM: no biases in kernels or layer norms).

    Mean and variance are computed in float32 whatever the compute dtype.
    """

    config: PalmConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scale = self.param("scale", nn.with_logical_partitioning(nn.initializers.ones, ("embed",)),
                           (x.shape[-1],), self.config.parameter_dtype)
        x = x.astype(jnp.float32)
        centred = x - jnp.mean(x, axis=-1, keepdims=True)
        variance = jnp.mean(jnp.square(centred), axis=-1, keepdims=True)
        normed = centred * lax.rsqrt(variance + self.config.layer_norm_epsilon)
        return (normed * scale.astype(jnp.float32)).astype(self.config.compute_dtype)


def apply_rope(x: jax.Array, positions: jax.Array, max_wavelength: float) -> jax.Array:
    """Rotary position embedding (Su et al. 2021) over the last axis of x.

    The last axis is split in two halves (x1, x2); the pair (x1[i], x2[i]) is rotated by the angle
    position / max_wavelength**(2i / head_dim). A dot product between a rotated query at position m
    and a rotated key at position n then depends on the positions only through m - n.

    Args:
      x: [B, T, ..., Q] queries ([B, T, H, Q]) or keys ([B, T, Q]).
      positions: [B, T] integer positions of the tokens.
    Returns:
      x rotated, in x's dtype (the rotation itself is computed in float32).
    """
    half = x.shape[-1] // 2
    inv_timescale = max_wavelength ** (-jnp.arange(half, dtype=jnp.float32) * 2.0 / x.shape[-1])
    angle = positions.astype(jnp.float32)[..., None] * inv_timescale  # [B, T, Q/2]
    angle = angle.reshape(angle.shape[:2] + (1,) * (x.ndim - 3) + (half,))
    sin, cos = jnp.sin(angle), jnp.cos(angle)
    x1, x2 = jnp.split(x.astype(jnp.float32), 2, axis=-1)
    rotated = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return rotated.astype(x.dtype)


class MultiQueryAttention(nn.Module):
    """Causal multi-query attention: H query heads share one key head and one value head.

    The query and output kernels are stored joined ([D, H*Q] and [H*Q, D], logical axis
    `joined_kv`, as t5x stores them); keys and values have a single head of size Q ([D, Q], axis
    `kv`). In decode mode the layer keeps one K and one V array of [B, S, Q] in the `cache`
    collection, H times smaller than a multi-head cache. `prefill` (with `decode`) is the first call
    on an empty cache with positions 0..T-1: the tokens attend to each other as in training (the
    fused causal path) and their keys and values are written into the cache.
    """

    config: PalmConfig
    decode: bool = False
    prefill: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, segment_ids: jax.Array | None,
                 positions: jax.Array) -> jax.Array:
        cfg = self.config
        batch, length = x.shape[:2]
        joined = cfg.num_heads * cfg.head_dim
        query = Dense(joined, ("embed", "joined_kv"), cfg, name="query")(x)
        key = Dense(cfg.head_dim, ("embed", "kv"), cfg, name="key")(x)
        value = Dense(cfg.head_dim, ("embed", "kv"), cfg, name="value")(x)
        query = constrain(query.reshape(batch, length, cfg.num_heads, cfg.head_dim),
                          ("batch", "length", "heads", "kv"))
        key = constrain(key, ("batch", "length", "kv"))
        value = constrain(value, ("batch", "length", "kv"))

        query = apply_rope(query, positions, cfg.rope_max_wavelength)
        key = apply_rope(key, positions, cfg.rope_max_wavelength)

        if self.decode and not self.prefill:
            # One step on top of a filled cache: attend to every cached slot up to the position.
            key, value, mask = self._extend_cache(key, value, positions)
            out = attention(query, key, value, mask=mask[:, None], causal=False, config=cfg)
        else:
            # Training, evaluation and prefill: the tokens attend to each other, causally and,
            # when packed, within their own document only.
            mask = None
            if segment_ids is not None:
                mask = (segment_ids[:, :, None] == segment_ids[:, None, :])[:, None]  # [B,1,T,S]
            out = attention(query, key, value, mask=mask, causal=True, config=cfg)
            if self.decode:  # prefill: the cache was empty; these keys/values fill its start
                self._extend_cache(key, value, positions)
        out = constrain(out.reshape(batch, length, joined), ("batch", "length", "joined_kv"))
        return Dense(cfg.d_model, ("joined_kv", "embed"), cfg, name="out")(out)

    def _extend_cache(self, key: jax.Array, value: jax.Array, positions: jax.Array):
        """Writes this call's keys/values into the cache at `positions`; returns the whole cache.

        The cache slot of a token is its position, so `positions[b]` must be contiguous
        (p, p+1, ..., p+T-1) within each row. A query at position p sees the slots 0..p of its row.
        """
        zeros = nn.with_logical_partitioning(jnp.zeros, ("batch", "length", "kv"))
        cached_key = self.variable("cache", "cached_key", zeros, key.shape, key.dtype)
        cached_value = self.variable("cache", "cached_value", zeros, value.shape, value.dtype)
        if not self.is_initializing():  # init only sizes the cache: [B, max_len, Q] from its input

            def write(cache_row, new_row, start):
                return lax.dynamic_update_slice_in_dim(
                    cache_row, new_row.astype(cache_row.dtype), start, axis=0)

            start = positions[:, 0]
            cached_key.value = jax.vmap(write)(cached_key.value, key, start)
            cached_value.value = jax.vmap(write)(cached_value.value, value, start)
            key = constrain(cached_key.value, ("batch", "length", "kv"))
            value = constrain(cached_value.value, ("batch", "length", "kv"))
        slots = jnp.arange(key.shape[1])
        mask = slots[None, None, :] <= positions[:, :, None]  # [B, T, S]
        return key, value, mask


class SwiGLU(nn.Module):
    """PaLM's MLP: (swish(x W_gate) * (x W_up)) W_out, three bias-free kernels."""

    config: PalmConfig

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        cfg = self.config
        gate = Dense(cfg.mlp_dim, ("embed", "mlp"), cfg, name="wi_gate")(x)
        up = Dense(cfg.mlp_dim, ("embed", "mlp"), cfg, name="wi_up")(x)
        hidden = constrain(nn.silu(gate) * up, ("batch", "length", "mlp"))
        return Dense(cfg.d_model, ("mlp", "embed"), cfg, name="wo")(hidden)


class ParallelBlock(nn.Module):
    """y = x + Attention(LayerNorm(x)) + MLP(LayerNorm(x)), one LayerNorm shared by both branches.

    With `scanned=True` the call returns (y, None), the (carry, output) pair `nn.scan` expects.
    """

    config: PalmConfig
    decode: bool = False
    scanned: bool = False
    prefill: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, segment_ids: jax.Array | None, positions: jax.Array):
        normed = LayerNorm(self.config, name="layer_norm")(x)
        attended = MultiQueryAttention(self.config, self.decode, self.prefill, name="attention")(
            normed, segment_ids, positions)
        mlp = SwiGLU(self.config, name="mlp")(normed)
        y = constrain(x + attended + mlp, ("batch", "length", "embed"))
        return (y, None) if self.scanned else y
