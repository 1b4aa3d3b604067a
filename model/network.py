"""PalmModel: the PaLM decoder-only network (Chowdhery et al. 2022, Sec. 2) as a Flax linen module.

Parameter tree (scan_layers=False; with scan_layers=True the layers are one `layers` entry whose
arrays have a leading axis of size num_layers, logical name `layers`):

  embedder/embedding                 [vocab, embed]      N(0, 1), shared with the output
  layers_<i>/layer_norm/scale        [embed]
  layers_<i>/attention/query/kernel  [embed, joined_kv]  H query heads of size Q, joined
  layers_<i>/attention/key/kernel    [embed, kv]         one key head
  layers_<i>/attention/value/kernel  [embed, kv]         one value head
  layers_<i>/attention/out/kernel    [joined_kv, embed]
  layers_<i>/mlp/wi_gate/kernel      [embed, mlp]
  layers_<i>/mlp/wi_up/kernel        [embed, mlp]
  layers_<i>/mlp/wo/kernel           [mlp, embed]
  final_norm/scale                   [embed]
  logits_dense/kernel                [embed, vocab]      only when logits_via_embedding=False
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from model.config import PalmConfig
from model.layers import Dense, LayerNorm, ParallelBlock, constrain, embedding_init

_REMAT_POLICIES = {
    # Keep the outputs of the weight matmuls (no batch dimension in their dot_general); recompute
    # the cheap element-wise work and the attention scores/probabilities in the backward pass.
    "minimal": jax.checkpoint_policies.checkpoint_dots_with_no_batch_dims,
    # Keep nothing but each layer's input; the whole layer runs again in the backward pass.
    "full": jax.checkpoint_policies.nothing_saveable,
}


class Embedder(nn.Module):
    """Token embedding [vocab, embed], used for the input lookup and (transposed) for the logits."""

    config: PalmConfig

    def setup(self):
        cfg = self.config
        self.embedding = self.param(
            "embedding", nn.with_logical_partitioning(embedding_init, ("vocab", "embed")),
            (cfg.vocab_size, cfg.d_model), cfg.parameter_dtype)

    def __call__(self, tokens: jax.Array) -> jax.Array:
        x = jnp.take(self.embedding, tokens, axis=0).astype(self.config.compute_dtype)
        return constrain(x, ("batch", "length", "embed"))

    def attend(self, x: jax.Array) -> jax.Array:
        """x [B, T, D] @ embedding.T -> [B, T, vocab], accumulated and returned in float32."""
        return project(x, self.embedding, self.config)


def project(features: jax.Array, weights: jax.Array, config: PalmConfig) -> jax.Array:
    """features [..., D] @ weights[V, D].T -> logits [..., V]: the operands are cast to the
    compute dtype, the products accumulated and returned in float32.

    `features` are what `PalmModel(..., return_features=True)` returns (already scaled), and
    `weights` is `output_matrix(params, config)`.
    """
    dtype = config.compute_dtype
    return jnp.einsum("...d,vd->...v", features.astype(dtype), weights.astype(dtype),
                      preferred_element_type=jnp.float32)


def output_matrix(params: dict, config: PalmConfig) -> jax.Array:
    """The [vocab, embed] matrix of the output layer: the shared embedding (PaLM), or the
    transposed `logits_dense` kernel."""
    if config.logits_via_embedding:
        return params["embedder"]["embedding"]
    return params["logits_dense"]["kernel"].T


def _layer_class(config: PalmConfig, decode: bool) -> type[nn.Module]:
    if config.remat_policy == "none" or decode:  # decoding never differentiates, so never remats
        return ParallelBlock
    # Under nn.scan the loop body already stops XLA from merging the recomputation into the forward
    # pass, so CSE prevention (extra barriers) is only needed for the unrolled stack.
    return nn.remat(ParallelBlock, policy=_REMAT_POLICIES[config.remat_policy],
                    prevent_cse=not config.scan_layers)


class PalmModel(nn.Module):
    """Decoder-only PaLM. Call it on tokens [B, T]; it returns float32 logits [B, T, vocab].

    Packed sequences: give `segment_ids` [B, T] (one id per document, 0 for padding) and `positions`
    [B, T] (restarting at 0 in each document); attention then never crosses a document boundary.
    Defaults: one document per row, positions 0..T-1.

    Decoding (`decode=True`): keys and values of the tokens are written into the `cache`
    collection at `positions` (required, contiguous per row, the same position the token has in its
    document) and the tokens attend to every cached slot up to their own position. Apply with
    `mutable=["cache"]`. The cache is sized by `init(..., decode=True)` on tokens of shape
    [B, max_len]; see model/decoding.py. `prefill=True` (with decode) is the first call on an empty
    cache, positions 0..T-1: the prompt attends within itself through the fused causal path.

    `return_features=True` stops before the output layer and returns the [B, T, D] features it
    would multiply (final layer norm applied, PaLM's 1/sqrt(d_model) scale included), for callers
    that need the logits of only some positions or one chunk at a time: `project(features,
    output_matrix(params, config), config)` gives the logits.
    """

    config: PalmConfig

    @nn.compact
    def __call__(self, tokens: jax.Array, segment_ids: jax.Array | None = None,
                 positions: jax.Array | None = None, *, decode: bool = False,
                 prefill: bool = False, return_features: bool = False) -> jax.Array:
        cfg = self.config
        if prefill and not decode:
            raise ValueError("prefill=True is a decode-mode call: pass decode=True too.")
        if decode:
            if positions is None:
                raise ValueError("decode=True needs explicit positions (the cache slots to fill).")
            if segment_ids is not None:
                raise ValueError("decode=True takes one document per row: no segment_ids.")
        if positions is None:
            positions = jnp.broadcast_to(jnp.arange(tokens.shape[1]), tokens.shape)

        embedder = Embedder(cfg, name="embedder")
        x = embedder(tokens)

        layer = _layer_class(cfg, decode)
        if cfg.scan_layers:
            stack = nn.scan(
                layer,
                variable_axes={"params": 0, "cache": 0},
                split_rngs={"params": True},
                in_axes=(nn.broadcast, nn.broadcast),
                length=cfg.num_layers,
                metadata_params={nn.PARTITION_NAME: "layers"},
            )
            x, _ = stack(cfg, decode=decode, scanned=True, prefill=prefill, name="layers")(
                x, segment_ids, positions)
        else:
            for i in range(cfg.num_layers):
                x = layer(cfg, decode=decode, prefill=prefill, name=f"layers_{i}")(
                    x, segment_ids, positions)

        x = LayerNorm(cfg, name="final_norm")(x)
        if cfg.logits_via_embedding:
            # Shared input/output embedding; PaLM scales the pre-softmax logits by 1/sqrt(d_model).
            x = x * jnp.asarray(cfg.d_model ** -0.5, x.dtype)
        if return_features:
            return constrain(x, ("batch", "length", "embed"))
        if cfg.logits_via_embedding:
            logits = embedder.attend(x)
        else:
            logits = Dense(cfg.vocab_size, ("embed", "vocab"), cfg, name="logits_dense")(x)
        return constrain(logits.astype(jnp.float32), ("batch", "length", "vocab"))
