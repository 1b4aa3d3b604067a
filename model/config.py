"""PalmConfig: every hyper-parameter of the PaLM network in one frozen, hashable dataclass.

Gin files build it by binding its fields (`PalmConfig.num_layers = 32`, see gin/models/). Because
the class is gin-configurable, a `PalmConfig()` created while a gin config is active takes the bound
values for the fields it is not given explicitly. The five size fields have no default: a model's
size is always stated, never implied.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

import gin

REMAT_POLICIES = ("none", "minimal", "full")
ATTENTION_IMPLEMENTATIONS = ("auto", "xla", "cudnn")
_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}


@gin.configurable
@dataclasses.dataclass(frozen=True)
class PalmConfig:
    """Hyper-parameters of a PaLM decoder (Chowdhery et al. 2022, Sec. 2 and Table 1).

    Attributes:
      vocab_size: size of the (shared input/output) embedding; 256000 for the paper's models.
      num_layers: number of parallel attention+MLP blocks.
      num_heads: number of query heads. Keys and values always have one head (multi-query
        attention).
      d_model: width of the residual stream.
      head_dim: size of each query head and of the single key and value heads (256 in the paper).
      d_ff: hidden size of the SwiGLU MLP; None means 4 * d_model as in the paper.
      dtype: computation dtype: "float32", "bfloat16", or "auto" (bfloat16 on GPU/TPU, float32 on
        CPU).
      param_dtype: storage dtype of the parameters (float32; cast to `dtype` where they are used).
      z_loss: coefficient of the auxiliary loss z_loss * log(Z)^2, which keeps the softmax
        normaliser Z near 1.
      scan_layers: stack the layers with `nn.scan` (parameters get a leading `layers` axis);
        compile time then does not grow with depth.
      remat_policy: what the backward pass keeps from the forward pass of each layer: "none"
        (keep everything, no recomputation), "minimal" (keep only the outputs of the weight
        matmuls, recompute the rest) or "full" (keep only each layer's input, recompute the whole
        layer).
      logits_via_embedding: compute logits with the transposed input embedding, scaled by
        1/sqrt(d_model) (PaLM). False gives a separate, unscaled output kernel `logits_dense`.
      attention_impl: how `jax.nn.dot_product_attention` computes attention: "xla" (any
        backend), "cudnn" (cuDNN flash attention: GPU, bfloat16/float16 only) or "auto" (cuDNN on a
        GPU in bfloat16/float16 when cuDNN accepts the shapes, XLA otherwise).
      loss_chunk_length: the loss runs over sequence chunks of this many positions, computing the
        logits, the cross-entropy, the z-loss and their gradients one chunk at a time, so the
        [batch, length, vocab] logits never exist at once (model/loss.py). 0 computes the full
        logits tensor and differentiates through it. Default 64 (docs/performance.md, CPU: 1.28x
        faster per step and 2.2x less temporary memory at vocabulary 32k; 1.53x faster and 4x
        less at 256k).
      rope_max_wavelength: the base of RoPE's geometric sequence of wavelengths.
      layer_norm_epsilon: epsilon inside the layer norms' square root.
      eos_id: end-of-document token, where generation stops.
      pad_id: padding token, written after EOS in generated sequences.
    """

    vocab_size: int
    num_layers: int
    num_heads: int
    d_model: int
    head_dim: int
    d_ff: int | None = None
    dtype: str = "auto"
    param_dtype: str = "float32"
    z_loss: float = 1e-4
    scan_layers: bool = False
    remat_policy: str = "none"
    logits_via_embedding: bool = True
    attention_impl: str = "auto"
    loss_chunk_length: int = 64
    rope_max_wavelength: float = 10_000.0
    layer_norm_epsilon: float = 1e-6
    eos_id: int = 1
    pad_id: int = 0

    def __post_init__(self):
        for name in ("vocab_size", "num_layers", "num_heads", "d_model", "head_dim"):
            if getattr(self, name) <= 0:
                raise ValueError(f"PalmConfig.{name} must be positive, got {getattr(self, name)}")
        if self.d_ff is not None and self.d_ff <= 0:
            raise ValueError(f"PalmConfig.d_ff must be positive or None, got {self.d_ff}")
        if self.head_dim % 2:
            raise ValueError(f"PalmConfig.head_dim must be even for RoPE, got {self.head_dim}")
        if self.remat_policy not in REMAT_POLICIES:
            raise ValueError(f"PalmConfig.remat_policy must be one of {REMAT_POLICIES}, "
                             f"got {self.remat_policy!r}")
        if self.attention_impl not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"PalmConfig.attention_impl must be one of "
                             f"{ATTENTION_IMPLEMENTATIONS}, got {self.attention_impl!r}")
        if self.loss_chunk_length < 0:
            raise ValueError(f"PalmConfig.loss_chunk_length must be >= 0 (0: no chunking), got "
                             f"{self.loss_chunk_length}")
        if self.dtype != "auto" and self.dtype not in _DTYPES:
            raise ValueError(f"PalmConfig.dtype must be 'auto' or one of {sorted(_DTYPES)}, "
                             f"got {self.dtype!r}")
        if self.param_dtype not in _DTYPES:
            raise ValueError(f"PalmConfig.param_dtype must be one of {sorted(_DTYPES)}, "
                             f"got {self.param_dtype!r}")

    @property
    def mlp_dim(self) -> int:
        return 4 * self.d_model if self.d_ff is None else self.d_ff

    @property
    def compute_dtype(self) -> jnp.dtype:
        """The dtype activations and matmuls run in ("auto" is resolved on the default backend)."""
        if self.dtype == "auto":
            return jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16
        return _DTYPES[self.dtype]

    @property
    def parameter_dtype(self) -> jnp.dtype:
        return _DTYPES[self.param_dtype]
