"""This model as transformers' `CohereForCausalLM`: the config.json fields and the name and
transform of every parameter, in both directions.

Cohere's decoder is PaLM's block (one mean-centred, weight-only LayerNorm feeding attention and
the SwiGLU MLP in parallel, grouped-query attention, RoPE, no biases, tied embeddings and
`logits * logit_scale`), so the mapping is exact given these facts (docs/evaluation-and-export.md):
- Cohere rotates interleaved pairs (x[2i], x[2i+1]); model/layers.py rotates (x[i], x[i + Q/2]).
  The output rows of the query and key projections are permuted within each head: new 2i <- old
  i, new 2i+1 <- old i + Q/2 (a permutation of rows is exact in any dtype).
- Flax kernels are [in, out]; torch Linear weights are [out, in]: transposed.
- Multi-query attention is `num_key_value_heads = 1`; PaLM's 1/sqrt(d_model) logit scale is
  `logit_scale` (1 with an untied `logits_dense`).
Anything the mapping does not cover raises `Unsupported`, which the commands turn into exit 2.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from model.config import PalmConfig

ARCHITECTURE = "CohereForCausalLM"
MODEL_TYPE = "cohere"
# transformers' key for the RoPE base since 5.x; older readers (vLLM among them) read the top-level
# `rope_theta`, so both are written.
ROPE_TYPE = "default"


class Unsupported(ValueError):
    """A model, config or file the other side cannot express; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One Hugging Face tensor: its name, where it lives in the Flax parameter tree (with the
    layer index into a stacked array when the model scans its layers), and how it is transformed
    ("copy", "kernel": transposed, "rope_kernel": transposed and its rows permuted per head)."""

    hf_name: str
    palm_path: tuple[str, ...]
    layer: int | None
    kind: str
    heads: int = 0  # rope_kernel: the number of heads in the rows


def entries(config: PalmConfig) -> list[Entry]:
    """Every tensor of the Hugging Face model, in a stable order (embedding, layers, norm, head)."""
    out = [Entry("model.embed_tokens.weight", ("embedder", "embedding"), None, "copy")]
    layer_kinds = [
        ("input_layernorm.weight", ("layer_norm", "scale"), "copy", 0),
        ("self_attn.q_proj.weight", ("attention", "query", "kernel"), "rope_kernel",
         config.num_heads),
        ("self_attn.k_proj.weight", ("attention", "key", "kernel"), "rope_kernel", 1),
        ("self_attn.v_proj.weight", ("attention", "value", "kernel"), "kernel", 0),
        ("self_attn.o_proj.weight", ("attention", "out", "kernel"), "kernel", 0),
        ("mlp.gate_proj.weight", ("mlp", "wi_gate", "kernel"), "kernel", 0),
        ("mlp.up_proj.weight", ("mlp", "wi_up", "kernel"), "kernel", 0),
        ("mlp.down_proj.weight", ("mlp", "wo", "kernel"), "kernel", 0),
    ]
    for i in range(config.num_layers):
        for name, path, kind, heads in layer_kinds:
            if config.scan_layers:
                out.append(Entry(f"model.layers.{i}.{name}", ("layers", *path), i, kind, heads))
            else:
                out.append(Entry(f"model.layers.{i}.{name}", (f"layers_{i}", *path), None, kind,
                                 heads))
    out.append(Entry("model.norm.weight", ("final_norm", "scale"), None, "copy"))
    if not config.logits_via_embedding:
        out.append(Entry("lm_head.weight", ("logits_dense", "kernel"), None, "kernel"))
    return out


def palm_shapes(config: PalmConfig) -> dict[tuple[str, ...], tuple[int, ...]]:
    """The shape of every Flax parameter the mapping reads (stacked ones with a layer axis)."""
    d, q, f, v = config.d_model, config.head_dim, config.mlp_dim, config.vocab_size
    joined = config.num_heads * q
    per_layer = {("layer_norm", "scale"): (d,), ("attention", "query", "kernel"): (d, joined),
                 ("attention", "key", "kernel"): (d, q), ("attention", "value", "kernel"): (d, q),
                 ("attention", "out", "kernel"): (joined, d), ("mlp", "wi_gate", "kernel"): (d, f),
                 ("mlp", "wi_up", "kernel"): (d, f), ("mlp", "wo", "kernel"): (f, d)}
    shapes = {("embedder", "embedding"): (v, d), ("final_norm", "scale"): (d,)}
    if not config.logits_via_embedding:
        shapes[("logits_dense", "kernel")] = (d, v)
    for path, shape in per_layer.items():
        if config.scan_layers:
            shapes[("layers", *path)] = (config.num_layers, *shape)
        else:
            for i in range(config.num_layers):
                shapes[(f"layers_{i}", *path)] = shape
    return shapes


def _pair_order(head_dim: int) -> np.ndarray:
    """Row order that takes halves-rotation rows to interleaved-pairs rows: [0, h, 1, h+1, ...]."""
    half = head_dim // 2
    return np.stack([np.arange(half), np.arange(half) + half], axis=1).reshape(-1)


def _permute_rows(weight: np.ndarray, head_dim: int, order: np.ndarray) -> np.ndarray:
    heads = weight.shape[0] // head_dim
    return weight.reshape(heads, head_dim, -1)[:, order].reshape(weight.shape)


def to_hf(array: np.ndarray, entry: Entry, config: PalmConfig) -> np.ndarray:
    """The Hugging Face tensor of `entry` from its Flax array (one layer's slice if stacked)."""
    if entry.kind == "copy":
        return np.ascontiguousarray(array)
    weight = np.ascontiguousarray(array.T)
    if entry.kind == "rope_kernel":
        weight = _permute_rows(weight, config.head_dim, _pair_order(config.head_dim))
    return weight


def from_hf(weight: np.ndarray, entry: Entry, config: PalmConfig) -> np.ndarray:
    """The inverse of `to_hf`: the Flax array (one layer's slice if stacked) from the tensor."""
    if entry.kind == "copy":
        return np.ascontiguousarray(weight)
    if entry.kind == "rope_kernel":
        weight = _permute_rows(weight, config.head_dim, np.argsort(_pair_order(config.head_dim)))
    return np.ascontiguousarray(weight.T)


def hf_shape(entry: Entry, config: PalmConfig) -> tuple[int, ...]:
    shape = palm_shapes(config)[entry.palm_path]
    if entry.layer is not None:
        shape = shape[1:]
    return shape if entry.kind == "copy" else shape[::-1]


def logit_scale(config: PalmConfig) -> float:
    return config.d_model ** -0.5 if config.logits_via_embedding else 1.0


def hf_config(config: PalmConfig, *, max_position_embeddings: int, dtype: str) -> dict:
    """config.json of `CohereForCausalLM` for this model (transformers 5.x field names)."""
    out = {
        "architectures": [ARCHITECTURE],
        "model_type": MODEL_TYPE,
        "vocab_size": config.vocab_size,
        "hidden_size": config.d_model,
        "intermediate_size": config.mlp_dim,
        "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.num_heads,
        "num_key_value_heads": 1,
        "hidden_act": "silu",
        "max_position_embeddings": max_position_embeddings,
        "initializer_range": 0.02,
        "layer_norm_eps": config.layer_norm_epsilon,
        "use_cache": True,
        "pad_token_id": config.pad_id,
        "bos_token_id": None,
        "eos_token_id": config.eos_id,
        "tie_word_embeddings": config.logits_via_embedding,
        "rope_parameters": {"rope_type": ROPE_TYPE, "rope_theta": config.rope_max_wavelength},
        "rope_theta": config.rope_max_wavelength,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "use_qk_norm": False,
        "logit_scale": logit_scale(config),
        "dtype": dtype,
    }
    if config.num_heads * config.head_dim != config.d_model:
        # Cohere's attention reads `head_dim` when present (else hidden_size / heads).
        out["head_dim"] = config.head_dim
    return out


def palm_fields(hf: dict, source: str) -> dict:
    """PalmConfig fields of a Cohere config.json; Unsupported when the model is not one PalmModel
    computes exactly (`source` names the file in the message)."""
    def need(key):
        if key not in hf:
            raise Unsupported(f"{source}: no {key!r}")
        return hf[key]

    architectures = hf.get("architectures") or []
    if hf.get("model_type") != MODEL_TYPE or ARCHITECTURE not in architectures:
        raise Unsupported(f"{source}: model_type {hf.get('model_type')!r}, architectures "
                          f"{architectures}: only {MODEL_TYPE!r} / {ARCHITECTURE} folders can be "
                          "imported (PaLM's block)")
    heads, hidden = int(need("num_attention_heads")), int(need("hidden_size"))
    kv_heads = hf.get("num_key_value_heads")
    if kv_heads is None:
        kv_heads = heads
    if int(kv_heads) != 1:
        raise Unsupported(f"{source}: num_key_value_heads = {kv_heads}: this model has one "
                          "key/value head (multi-query attention); a model with several "
                          "cannot be imported without changing what it computes")
    checks = {"use_qk_norm": (hf.get("use_qk_norm", False), False),
              "attention_bias": (hf.get("attention_bias", False), False),
              "hidden_act": (hf.get("hidden_act", "silu"), "silu")}
    for key, (value, wanted) in checks.items():
        if value != wanted:
            raise Unsupported(f"{source}: {key} = {value!r}; this model needs {wanted!r}")
    rope = hf.get("rope_parameters") or {}
    if hf.get("rope_scaling") or rope.get("rope_type", ROPE_TYPE) != ROPE_TYPE:
        raise Unsupported(f"{source}: RoPE type {rope.get('rope_type')!r} / rope_scaling "
                          f"{hf.get('rope_scaling')!r}: only plain RoPE ({ROPE_TYPE!r}) is "
                          "supported")
    theta = rope.get("rope_theta", hf.get("rope_theta"))
    if theta is None:
        raise Unsupported(f"{source}: no rope_theta (rope_parameters.rope_theta)")
    head_dim = int(hf.get("head_dim") or hidden // heads)
    tied = bool(hf.get("tie_word_embeddings", True))
    wanted_scale = hidden ** -0.5 if tied else 1.0
    scale = hf.get("logit_scale", 0.0625)
    if scale is None or not np.isclose(float(scale), wanted_scale, rtol=1e-6, atol=0):
        raise Unsupported(f"{source}: logit_scale = {scale!r}; with tie_word_embeddings={tied} "
                          f"this model computes logits * {wanted_scale:.8g} (PaLM: "
                          "1/sqrt(hidden_size) with tied embeddings, 1 untied)")
    fields = {"vocab_size": int(need("vocab_size")), "num_layers": int(need("num_hidden_layers")),
              "num_heads": heads, "d_model": hidden, "head_dim": head_dim,
              "d_ff": int(need("intermediate_size")), "logits_via_embedding": tied,
              "rope_max_wavelength": float(theta),
              "layer_norm_epsilon": float(hf.get("layer_norm_eps", 1e-5))}
    eos = hf.get("eos_token_id")
    if isinstance(eos, list):
        if len(eos) != 1:
            raise Unsupported(f"{source}: eos_token_id = {eos}: this model stops on one token")
        eos = eos[0]
    if eos is not None:
        fields["eos_id"] = int(eos)
    if hf.get("pad_token_id") is not None:
        fields["pad_id"] = int(hf["pad_token_id"])
    if fields["d_ff"] == 4 * hidden:
        fields["d_ff"] = None
    try:
        PalmConfig(**fields)
    except ValueError as e:
        raise Unsupported(f"{source}: {e}") from e
    return fields
