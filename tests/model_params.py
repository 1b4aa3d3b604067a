"""Model parameters for tests, drawn by numpy: no compilation, and layer-norm scales that are not
1 (a real init starts them at 1, where a forgotten scale would go unnoticed)."""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from model.config import PalmConfig
from model.flops import abstract_params


def random_params(config: PalmConfig, seed: int = 0):
    """Parameters of the model's shapes: scales 1 + 0.3 N(0, 1), embeddings N(0, 1), kernels
    N(0, 1/fan_in), float32."""
    rng = np.random.default_rng(seed)

    def draw(path, leaf):
        name = path[-1].key
        if name == "scale":
            values = 1.0 + 0.3 * rng.normal(size=leaf.shape)
        elif name == "embedding":
            values = rng.normal(size=leaf.shape)
        else:
            values = rng.normal(size=leaf.shape) / math.sqrt(leaf.shape[-2])
        return jnp.asarray(values, jnp.float32)

    return jax.tree_util.tree_map_with_path(draw, nn.unbox(abstract_params(config)))
