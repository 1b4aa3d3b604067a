"""The PaLM network: an independent numpy forward pass, RoPE, packing, scan, remat, MQA, init,
loss."""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from model import partitioning
from model.config import PalmConfig
from model.flops import abstract_params
from model.layers import apply_rope
from model.loss import compute_loss
from model.network import PalmModel
from tests.model_params import random_params

TINY = dict(vocab_size=512, num_layers=2, num_heads=4, d_model=64, head_dim=16, dtype="float32")


def tiny(**overrides) -> PalmConfig:
    return PalmConfig(**{**TINY, **overrides})


@functools.partial(jax.jit, static_argnums=(0, 1))
def init_params(config: PalmConfig, seed: int = 0):
    """The model's own initialisation, compiled (eager, it costs seconds of op-by-op dispatch)."""
    tokens = jnp.zeros((1, 4), jnp.int32)
    return nn.unbox(PalmModel(config).init(jax.random.PRNGKey(seed), tokens)["params"])


def random_tokens(shape, vocab=TINY["vocab_size"], seed=1):
    return jnp.asarray(np.random.default_rng(seed).integers(2, vocab, size=shape), jnp.int32)


@functools.partial(jax.jit, static_argnums=0)
def forward(config, params, tokens, segment_ids=None, positions=None):
    return PalmModel(config).apply({"params": params}, tokens, segment_ids, positions)


@functools.partial(jax.jit, static_argnums=0)
def logits_and_grads(config, params, tokens, segment_ids, positions):
    """Logits and the gradient of the LM loss (next-token targets are the tokens themselves here:
    any fixed function of the parameters serves to compare gradients)."""

    def loss_fn(p):
        logits = PalmModel(config).apply({"params": p}, tokens, segment_ids, positions)
        return compute_loss(logits, tokens).loss, logits

    (_, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    return logits, grads


def stack_layers(params, num_layers):
    """Unrolled parameters (layers_0, layers_1, ...) -> the scanned layout (stacked `layers`)."""
    stacked = dict(params)
    layers = [stacked.pop(f"layers_{i}") for i in range(num_layers)]
    stacked["layers"] = jax.tree.map(lambda *xs: jnp.stack(xs), *layers)
    return stacked


# ---------------------------------------------------------------------------------------------
# An independent reference: plain numpy in float64, loops where they make the maths plain.


def np_layer_norm(x, scale, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale


def np_rope(x, position, max_wavelength):
    """Rotate x[..., Q] as Q/2 complex numbers x[i] + 1j*x[i + Q/2] by position * theta_i."""
    half = x.shape[-1] // 2
    theta = max_wavelength ** (-2.0 * np.arange(half) / x.shape[-1])
    z = (x[..., :half] + 1j * x[..., half:]) * np.exp(1j * position * theta)
    return np.concatenate([z.real, z.imag], axis=-1)


def np_attention(h, p, cfg, segment_ids, positions):
    """One sequence h [T, D]; multi-query: per-head queries, one key head, one value head."""
    length = h.shape[0]
    q = (h @ p["query"]["kernel"]).reshape(length, cfg.num_heads, cfg.head_dim)
    k = h @ p["key"]["kernel"]
    v = h @ p["value"]["kernel"]
    q = np.stack([np_rope(q[t], positions[t], cfg.rope_max_wavelength) for t in range(length)])
    k = np.stack([np_rope(k[t], positions[t], cfg.rope_max_wavelength) for t in range(length)])
    out = np.zeros((length, cfg.num_heads, cfg.head_dim))
    for t in range(length):
        visible = [s for s in range(t + 1) if segment_ids[s] == segment_ids[t]]
        for head in range(cfg.num_heads):
            scores = np.array([q[t, head] @ k[s] for s in visible]) / math.sqrt(cfg.head_dim)
            weights = np.exp(scores - scores.max())
            weights /= weights.sum()
            out[t, head] = sum(w * v[s] for w, s in zip(weights, visible))
    return out.reshape(length, -1) @ p["out"]["kernel"]


def np_swiglu(h, p):
    gate = h @ p["wi_gate"]["kernel"]
    return (gate / (1 + np.exp(-gate)) * (h @ p["wi_up"]["kernel"])) @ p["wo"]["kernel"]


def np_forward(params, cfg, tokens, segment_ids, positions):
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
    if cfg.scan_layers:
        layers = [jax.tree.map(lambda a, i=i: a[i], p["layers"]) for i in range(cfg.num_layers)]
    else:
        layers = [p[f"layers_{i}"] for i in range(cfg.num_layers)]
    embedding = p["embedder"]["embedding"]
    logits = []
    for row, segs, pos in zip(np.asarray(tokens), np.asarray(segment_ids), np.asarray(positions)):
        x = embedding[row]
        for layer in layers:
            h = np_layer_norm(x, layer["layer_norm"]["scale"], cfg.layer_norm_epsilon)
            x = x + np_attention(h, layer["attention"], cfg, segs, pos) + np_swiglu(h, layer["mlp"])
        x = np_layer_norm(x, p["final_norm"]["scale"], cfg.layer_norm_epsilon)
        if cfg.logits_via_embedding:
            logits.append(x @ embedding.T / math.sqrt(cfg.d_model))
        else:
            logits.append(x @ p["logits_dense"]["kernel"])
    return np.stack(logits)


def packed_example():
    """Two rows: row 0 packs three documents and padding, row 1 is one document."""
    segment_ids = np.array([[1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 0, 0],
                            [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]])
    positions = np.array([[0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 0, 1], list(range(12))])
    return random_tokens((2, 12)), jnp.asarray(segment_ids), jnp.asarray(positions)


@pytest.mark.parametrize("overrides", [
    {}, {"scan_layers": True}, {"logits_via_embedding": False}, {"d_ff": 96, "num_heads": 2}],
    ids=["unrolled", "scanned", "separate_output_kernel", "custom_d_ff"])
def test_logits_match_numpy_reference(overrides):
    cfg = tiny(**overrides)
    params = random_params(cfg)
    tokens, segment_ids, positions = packed_example()
    logits = forward(cfg, params, tokens, segment_ids, positions)
    expected = np_forward(params, cfg, tokens, segment_ids, positions)
    assert logits.shape == (2, 12, cfg.vocab_size) and logits.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(logits), expected, atol=1e-5, rtol=0)


def test_rope_scores_depend_only_on_relative_position():
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(2, 1, 1, 32)).astype(np.float32)

    def score(m, n):
        rq = apply_rope(jnp.asarray(q), jnp.array([[m]]), 10_000.0)
        rk = apply_rope(jnp.asarray(k), jnp.array([[n]]), 10_000.0)
        return float(jnp.sum(rq * rk))

    for m, n in [(0, 0), (5, 2), (3, 9), (100, 37)]:
        for shift in (1, 17, 1000):
            assert score(m + shift, n + shift) == pytest.approx(score(m, n), abs=2e-4)
    assert abs(score(5, 2) - score(5, 3)) > 1e-3  # but they do depend on the relative position
    # Rotation preserves norms, and position 0 is the identity.
    rotated = apply_rope(jnp.asarray(q), jnp.array([[123]]), 10_000.0)
    assert float(jnp.linalg.norm(rotated)) == pytest.approx(float(np.linalg.norm(q)), rel=1e-5)
    np.testing.assert_allclose(apply_rope(jnp.asarray(q), jnp.array([[0]]), 10_000.0), q)


def test_logits_unchanged_when_every_position_is_shifted():
    cfg = tiny()
    params = random_params(cfg)
    tokens = random_tokens((2, 10))
    positions = jnp.broadcast_to(jnp.arange(10), (2, 10))
    base = forward(cfg, params, tokens, positions=positions)
    shifted = forward(cfg, params, tokens, positions=positions + 37)
    np.testing.assert_allclose(shifted, base, atol=2e-4)
    assert not np.allclose(forward(cfg, params, tokens, positions=positions[:, ::-1]), base)


def test_document_logits_do_not_depend_on_their_neighbours():
    cfg = tiny()
    params = random_params(cfg)
    doc = random_tokens((5,), seed=3)
    alone = forward(cfg, params, doc[None])[0]
    for seed, before in [(4, 4), (5, 7), (6, 0)]:  # rows of 12 tokens: other, doc, another
        after = 12 - 5 - before
        other = random_tokens((before + after,), seed=seed)
        tokens = jnp.concatenate([other[:before], doc, other[before:]])[None]
        segment_ids = jnp.array([[1] * before + [2] * 5 + [3] * after])
        positions = jnp.array([list(range(before)) + list(range(5)) + list(range(after))])
        packed = forward(cfg, params, tokens, segment_ids, positions)[0]
        np.testing.assert_allclose(packed[before:before + 5], alone, atol=1e-5)
        if before:  # without segment ids the document would see the one before it
            unsegmented = forward(cfg, params, tokens, positions=positions)[0]
            assert not np.allclose(unsegmented[before:before + 5], alone, atol=1e-3)


def test_attention_is_causal():
    cfg = tiny()
    params = random_params(cfg)
    tokens = random_tokens((1, 10))
    changed = tokens.at[0, 6].set((tokens[0, 6] + 1) % cfg.vocab_size)
    a, b = forward(cfg, params, tokens), forward(cfg, params, changed)
    np.testing.assert_array_equal(a[0, :6], b[0, :6])
    assert not np.allclose(a[0, 6:], b[0, 6:])


def test_scan_and_unrolled_give_the_same_outputs_and_gradients():
    unrolled, scanned = tiny(), tiny(scan_layers=True)
    params = random_params(unrolled)
    stacked = stack_layers(params, unrolled.num_layers)
    assert jax.tree.map(jnp.shape, stacked) == jax.tree.map(jnp.shape, random_params(scanned))
    batch = packed_example()
    logits_unrolled, grads_unrolled = logits_and_grads(unrolled, params, *batch)
    logits_scanned, grads_scanned = logits_and_grads(scanned, stacked, *batch)
    np.testing.assert_allclose(logits_scanned, logits_unrolled, atol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), grads_scanned,
                 stack_layers(grads_unrolled, unrolled.num_layers))


def test_scanned_program_does_not_grow_with_depth():
    """What XLA compiles: one layer body under scan whatever the depth, L copies when unrolled."""
    tokens = random_tokens((1, 8))

    def matmuls(cfg):
        params = nn.unbox(abstract_params(cfg))
        jaxpr = jax.make_jaxpr(lambda p: PalmModel(cfg).apply({"params": p}, tokens))(params)
        return str(jaxpr).count("dot_general[")

    assert matmuls(tiny(num_layers=2, scan_layers=True)) == matmuls(
        tiny(num_layers=8, scan_layers=True))
    assert matmuls(tiny(num_layers=8)) > 3 * matmuls(tiny(num_layers=2))


@pytest.mark.parametrize("scan_layers", [False, True], ids=["unrolled", "scanned"])
def test_remat_policies_give_the_same_gradients(scan_layers):
    batch = packed_example()
    params = random_params(tiny(scan_layers=scan_layers))
    configs = {policy: tiny(scan_layers=scan_layers, remat_policy=policy)
               for policy in ("none", "minimal", "full")}
    # Remat is really in place: the backward pass recomputes matmuls, full remat more of them.
    dots = {policy: str(jax.make_jaxpr(logits_and_grads, static_argnums=0)(
        cfg, params, *batch)).count("dot_general[") for policy, cfg in configs.items()}
    assert dots["none"] < dots["minimal"] < dots["full"], dots
    _, reference = logits_and_grads(configs["none"], params, *batch)
    for policy in ("minimal", "full"):
        _, grads = logits_and_grads(configs[policy], params, *batch)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), grads, reference)


def test_multi_query_attention_has_one_key_and_one_value_head():
    cfg = tiny(num_heads=8, head_dim=8)
    attention = nn.unbox(abstract_params(cfg))["layers_0"]["attention"]
    d, joined = cfg.d_model, cfg.num_heads * cfg.head_dim
    assert attention["query"]["kernel"].shape == (d, joined)
    assert attention["key"]["kernel"].shape == (d, cfg.head_dim)
    assert attention["value"]["kernel"].shape == (d, cfg.head_dim)
    assert attention["out"]["kernel"].shape == (joined, d)


def test_no_biases_anywhere():
    for cfg in (tiny(), tiny(scan_layers=True), tiny(logits_via_embedding=False)):
        for path, _ in jax.tree_util.tree_leaves_with_path(nn.unbox(abstract_params(cfg))):
            names = [entry.key for entry in path]
            leaf, owner = names[-1], names[-2]
            assert leaf in ("kernel", "scale", "embedding"), names
            if leaf == "scale":
                assert owner in ("layer_norm", "final_norm"), names


def test_initialisation_follows_palm():
    cfg = tiny(vocab_size=2048, d_model=256, num_heads=4, head_dim=64, scan_layers=True)
    params = init_params(cfg, 7)
    embedding = params["embedder"]["embedding"]
    assert float(jnp.std(embedding)) == pytest.approx(1.0, rel=0.02)
    for path, value in jax.tree_util.tree_leaves_with_path(params):
        name = "/".join(entry.key for entry in path)
        if name.endswith("kernel"):  # [layers, fan_in, fan_out]
            fan_in = value.shape[-2]
            for layer in value:
                assert float(jnp.std(layer)) == pytest.approx(fan_in ** -0.5, rel=0.05), name
                assert abs(float(jnp.mean(layer))) < 0.05 * fan_in ** -0.5, name
            assert not np.allclose(value[0], value[1])  # layers are drawn independently
        elif name.endswith("scale"):
            np.testing.assert_array_equal(value, 1.0)


def test_parameters_carry_t5x_logical_axis_names():
    known = {"batch", "length", "embed", "mlp", "heads", "kv", "joined_kv", "vocab", "layers"}
    for cfg in (tiny(), tiny(scan_layers=True)):
        boxed = abstract_params(cfg)
        leaves = jax.tree.leaves(boxed, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
        for leaf in leaves:
            assert isinstance(leaf, nn.LogicallyPartitioned)
            assert len(leaf.names) == leaf.value.ndim and set(leaf.names) <= known
            assert (leaf.names[0] == "layers") == (cfg.scan_layers and leaf.value.ndim > 1
                                                  and leaf.value.shape[0] == cfg.num_layers)


def test_axis_rules_shard_the_8b_model_as_t5x_and_palm_do():
    cfg = PalmConfig(vocab_size=256000, num_layers=32, num_heads=16, d_model=4096, head_dim=256,
                     scan_layers=True)
    boxed = abstract_params(cfg)
    P = jax.sharding.PartitionSpec
    standard = partitioning.mesh_partition_specs(boxed, partitioning.standard_logical_axis_rules())
    assert standard["embedder"]["embedding"] == P("model", None)
    assert standard["layers"]["attention"]["query"]["kernel"] == P(None, None, "model")
    assert standard["layers"]["attention"]["key"]["kernel"] == P(None, None, None)
    assert standard["layers"]["mlp"]["wo"]["kernel"] == P(None, "model", None)
    full = partitioning.mesh_partition_specs(boxed, partitioning.standard_logical_axis_rules(True))
    assert full["embedder"]["embedding"] == P("model", "data")
    assert full["layers"]["mlp"]["wi_up"]["kernel"] == P(None, "data", "model")
    # An activation [batch, length, embed] keeps embed replicated: batch already holds "data".
    assert nn.logical_to_mesh_axes(("batch", "length", "embed"),
                                   partitioning.FULLY_SHARDED_RULES) == P("data", None, None)


def test_precision_policy():
    on_cpu = jax.default_backend() == "cpu"
    assert tiny(dtype="auto").compute_dtype == (jnp.float32 if on_cpu else jnp.bfloat16)
    cfg32, cfg16 = tiny(), tiny(dtype="bfloat16")
    params = random_params(cfg16)
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(params))
    tokens = random_tokens((2, 8))
    logits16 = forward(cfg16, params, tokens)
    logits32 = forward(cfg32, params, tokens)
    assert logits16.dtype == jnp.float32  # logits are always returned in float32 for the loss
    np.testing.assert_allclose(logits16, logits32, atol=0.15)
    assert not np.allclose(logits16, logits32, atol=1e-5)  # but it did run in bfloat16
    with pytest.raises(ValueError, match="remat_policy"):
        tiny(remat_policy="everything")
    with pytest.raises(ValueError, match="dtype"):
        tiny(dtype="float64")


def test_loss_matches_numpy_and_honours_weights():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 5, 7)) * 3
    targets = rng.integers(0, 7, size=(2, 5))
    weights = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)
    out = compute_loss(jnp.asarray(logits, jnp.float32), jnp.asarray(targets),
                       jnp.asarray(weights), z_loss=1e-4)
    log_z = np.log(np.exp(logits).sum(-1))
    cross_ent = log_z - np.take_along_axis(logits, targets[..., None], -1)[..., 0]
    assert float(out.cross_ent_loss) == pytest.approx((cross_ent * weights).sum() / 8, rel=1e-5)
    assert float(out.z_loss) == pytest.approx(1e-4 * (log_z ** 2 * weights).sum() / 8, rel=1e-5)
    assert float(out.loss) == pytest.approx(float(out.cross_ent_loss + out.z_loss), rel=1e-6)
    correct = (logits.argmax(-1) == targets) * weights
    metrics = out.metrics()
    assert set(metrics) >= {"loss", "z_loss", "cross_ent_loss", "accuracy"}
    assert float(metrics["accuracy"]) == pytest.approx(correct.sum() / 8)
    assert float(out.weight_sum) == 8.0
    # Tokens of weight 0 do not matter; an explicit normaliser replaces the weight sum.
    changed = logits.copy()
    changed[0, 3:] = 100.0
    again = compute_loss(jnp.asarray(changed, jnp.float32), jnp.asarray(targets),
                         jnp.asarray(weights), z_loss=1e-4)
    assert float(again.loss) == pytest.approx(float(out.loss), rel=1e-6)
    summed = compute_loss(jnp.asarray(logits, jnp.float32), jnp.asarray(targets),
                          jnp.asarray(weights), z_loss=1e-4, loss_normalizing_factor=1.0)
    assert float(summed.loss) == pytest.approx(8 * float(out.loss), rel=1e-5)
    # An all-padding batch gives 0, not NaN.
    empty = compute_loss(jnp.asarray(logits, jnp.float32), jnp.asarray(targets),
                         jnp.zeros((2, 5)))
    assert float(empty.loss) == 0.0


def test_no_parameter_shadows_a_function_of_its_module():
    """A parameter named like a module-level function of model/ hides it inside the body (e.g.
    network.project's output matrix was once called `output_matrix`)."""
    import ast
    import pathlib

    shadows = []
    for path in sorted((pathlib.Path(__file__).parents[1] / "model").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.Lambda)):
                args = node.args
                shadows += [f"{path.name}: {getattr(node, 'name', 'lambda')}({a.arg})"
                            for a in args.posonlyargs + args.args + args.kwonlyargs
                            if a.arg in names]
    assert not shadows, shadows
