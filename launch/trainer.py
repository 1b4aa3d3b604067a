"""The jitted train/eval steps on the mesh, under t5x's name (`trainer.Trainer`).

`trainer.Trainer.num_microbatches` and `trainer.Trainer.learning_rate_fn` are the bindings t5x users
know; `trainer.Trainer.optimizer` picks the optimizer factory (default: PaLM's Adafactor,
model/optimizer.py). The math of a step is model/train_step.py; this class only places it on the
devices: one `jax.jit` with explicit in/out shardings and the train state donated, so the state's
buffers are reused in place.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import optax

from launch.partitioning import PjitPartitioner
from model import optimizer as optimizers
from model import train_step as steps
from model.config import PalmConfig

log = logging.getLogger("launch")


class WeightMetricsComputer:
    """t5x's hook for weight statistics: adds `weight_norm` (global L2 norm of the parameters) to
    the train metrics when bound (t5x's pretrain.gin binds it)."""

    def compute(self, params) -> dict:
        return {"weight_norm": optax.global_norm(params)}


class Trainer:
    """Owns the optimizer and the compiled steps for one model on one mesh.

    Args:
      model: the PalmConfig (None: `PalmConfig()` from the gin bindings of the model file).
      partitioner: the mesh and axis rules.
      learning_rate_fn: step -> learning rate (default: PaLM's, 1e-2 then 1/sqrt(step)).
      num_microbatches: gradient accumulation steps per batch (None or 1: none).
      optimizer: a factory learning_rate_fn -> optax transformation (default
        optimizer.adafactor, PaLM's settings).
      weight_metrics_computer: optional WeightMetricsComputer.
    """

    def __init__(self, model: PalmConfig | None, partitioner: PjitPartitioner,
                 learning_rate_fn: Callable | None = None, num_microbatches: int | None = None,
                 optimizer: Callable[[Callable], optax.GradientTransformation] | None = None,
                 weight_metrics_computer: WeightMetricsComputer | None = None):
        self.config = model if model is not None else PalmConfig()
        self.partitioner = partitioner
        self.learning_rate_fn = learning_rate_fn or optimizers.rsqrt_schedule()
        self.num_microbatches = num_microbatches or 1
        self.optimizer = (optimizer or optimizers.adafactor)(self.learning_rate_fn)
        self.weight_metrics_computer = weight_metrics_computer
        self.rules = partitioner.logical_axis_rules
        self.state_specs = steps.state_partition_specs(self.config, self.optimizer, self.rules)
        self.state_shardings = partitioner.shardings(self.state_specs)
        self.trace_count = 0  # how many times the train step was traced (= compiled)
        self._compiled: dict = {}  # batch shapes -> ahead-of-time compiled train step

    # The model's activations carry logical axis constraints; they take effect inside this scope.
    def _scoped(self, fn):
        @functools.wraps(fn)
        def wrapped(*args):
            with nn.logical_axis_rules(self.rules):
                return fn(*args)
        return wrapped

    def _mesh_call(self, fn, *args):
        with jax.set_mesh(self.partitioner.mesh):
            return fn(*args)

    @functools.cached_property
    def _init_fn(self):
        init = functools.partial(steps.init_state, self.config, self.optimizer)
        return jax.jit(self._scoped(init), out_shardings=self.state_shardings)

    def init_state(self, seed: int) -> steps.TrainState:
        """Fresh state, each array created directly in its sharding."""
        return self._mesh_call(self._init_fn, jax.random.PRNGKey(seed))

    def abstract_state(self) -> steps.TrainState:
        """ShapeDtypeStructs of the state carrying their shardings (the restore target)."""
        shapes = jax.eval_shape(functools.partial(steps.init_state, self.config, self.optimizer),
                                jax.random.PRNGKey(0))
        return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                            shapes, self.state_shardings)

    @functools.cached_property
    def _train_fn(self):
        step = steps.make_train_step(self.config, self.optimizer, self.learning_rate_fn,
                                     self.num_microbatches)
        weights = self.weight_metrics_computer

        def counted(state, batch):
            self.trace_count += 1
            new_state, metrics = step(state, batch)
            if weights is not None:
                metrics.update(weights.compute(new_state.params))
            return new_state, metrics

        batch_sharding = self.partitioner.sharding(self.partitioner.batch_spec)
        replicated = self.partitioner.sharding(jax.sharding.PartitionSpec())
        return jax.jit(self._scoped(counted),
                       in_shardings=(self.state_shardings, batch_sharding),
                       out_shardings=(self.state_shardings, replicated),
                       donate_argnums=(0,))

    @staticmethod
    def _shapes(batch: dict) -> tuple:
        return tuple(sorted((k, tuple(v.shape)) for k, v in batch.items()))

    def compile_train(self, state: steps.TrainState, batch: dict) -> float:
        """Compiles the train step for `batch`'s shapes ahead of time (t5x's `compile_train`);
        returns the seconds it took (t5x's `timing/compilation_seconds`). Nothing is donated."""
        start = time.perf_counter()
        lowered = self._mesh_call(self._train_fn.lower, state, batch)
        self._compiled[self._shapes(batch)] = lowered.compile()
        return time.perf_counter() - start

    def train_step(self, state: steps.TrainState, batch: dict) -> tuple[steps.TrainState, dict]:
        """One update; `state` is donated (do not use it afterwards)."""
        compiled = self._compiled.get(self._shapes(batch))
        return self._mesh_call(compiled or self._train_fn, state, batch)

    @functools.cached_property
    def _eval_fn(self):
        batch_sharding = self.partitioner.sharding(self.partitioner.batch_spec)
        replicated = self.partitioner.sharding(jax.sharding.PartitionSpec())
        return jax.jit(self._scoped(steps.make_eval_step(self.config)),
                       in_shardings=(self.state_shardings.params, batch_sharding),
                       out_shardings=replicated)

    def eval_step(self, params, batch: dict) -> dict:
        """Raw loss sums of a batch (see model.train_step.SUM_KEYS)."""
        return self._mesh_call(self._eval_fn, params, batch)
