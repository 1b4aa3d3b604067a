"""The device mesh and its shardings, under t5x's names (`from launch import partitioning`).

A mesh has two axes, `data` and `model`. `num_partitions` (or the product of
`model_parallel_submesh`) is the size of `model`; `data` takes the remaining devices. Logical axis
rules (model/partitioning.py: t5x's default, or PaLM's fully sharded variant with embed -> data)
map the model's named axes onto the mesh; every parameter, optimizer-state leaf and batch then
gets a `NamedSharding`.

Devices are ordered by process before the mesh is cut, so each process's devices are contiguous
along `data` when `model` fits inside one process (the usual case): a process then feeds its own
slice of the batch (`jax.make_array_from_process_local_data`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from model import partitioning as model_partitioning

MESH_AXES = ("data", "model")


def standard_logical_axis_rules(activation_partitioning_dims: int = 1,
                                parameter_partitioning_dims: int = 1,
                                additional_rules: Sequence[tuple[str, str | None]] | None = None):
    """t5x's function: parameter_partitioning_dims=1 gives t5x's default rules, 2 gives PaLM's
    fully sharded layout (embed -> data as well). `additional_rules` come first (they win)."""
    if activation_partitioning_dims != 1:
        raise ValueError("activation_partitioning_dims must be 1 (activations are sharded over "
                         f"batch only), got {activation_partitioning_dims}")
    if parameter_partitioning_dims not in (1, 2):
        raise ValueError("parameter_partitioning_dims must be 1 (t5x default) or 2 (fully "
                         f"sharded, embed -> data), got {parameter_partitioning_dims}")
    rules = model_partitioning.standard_logical_axis_rules(
        fully_sharded=parameter_partitioning_dims == 2)
    return [tuple(rule) for rule in (additional_rules or [])] + rules


class PjitPartitioner:
    """Builds the (data, model) mesh and the shardings of state and batches.

    Args (t5x's):
      num_partitions: size of the `model` axis (model parallelism); default 1.
      model_parallel_submesh: alternatively, a tuple whose product is the `model` size.
      logical_axis_rules: sequence of (logical axis, mesh axis or None); default t5x's.
      params_on_devices, backend: accepted for t5x compatibility (parameters always live on the
        devices; the backend is JAX's default).
    """

    def __init__(self, num_partitions: int | None = None,
                 model_parallel_submesh: Sequence[int] | None = None,
                 logical_axis_rules: Sequence[tuple[str, str | None]] | None = None,
                 params_on_devices: bool = True, backend: str | None = None):
        if num_partitions and model_parallel_submesh:
            raise ValueError("give num_partitions or model_parallel_submesh, not both")
        self.num_partitions = (math.prod(model_parallel_submesh) if model_parallel_submesh
                               else (num_partitions or 1))
        self.logical_axis_rules = [tuple(r) for r in (logical_axis_rules or
                                                      standard_logical_axis_rules())]
        self._mesh: Mesh | None = None

    @property
    def mesh(self) -> Mesh:
        if self._mesh is None:
            self._mesh = make_mesh(self.num_partitions)
        return self._mesh

    def sharding(self, spec: PartitionSpec) -> NamedSharding:
        return NamedSharding(self.mesh, spec)

    def shardings(self, specs):
        return jax.tree.map(self.sharding, specs,
                            is_leaf=lambda x: isinstance(x, PartitionSpec))

    @property
    def batch_spec(self) -> PartitionSpec:
        batch_axis = dict(self.logical_axis_rules).get("batch", "data")
        return PartitionSpec(batch_axis)

    @property
    def data_layout(self) -> tuple[int, int]:
        """(shard index, number of shards) of this process's slice of every global batch.

        Processes whose devices hold the same rows of the `data` axis read the same shard.
        """
        mesh = self.mesh
        rows = sorted({int(i) for i, row in enumerate(mesh.devices)
                       for d in row if d.process_index == jax.process_index()})
        per_process = len(rows)
        return rows[0] // per_process, mesh.shape["data"] // per_process

    def make_global_batch(self, local_batch: dict[str, np.ndarray]) -> dict[str, jax.Array]:
        """This process's rows of the batch -> global arrays sharded over `data`."""
        sharding = self.sharding(self.batch_spec)
        return {key: jax.make_array_from_process_local_data(sharding, value)
                for key, value in local_batch.items()}


def make_mesh(num_partitions: int = 1, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A (data, model) mesh over all devices with `model` = num_partitions."""
    devices = list(devices or jax.devices())
    if num_partitions <= 0 or len(devices) % num_partitions:
        raise ValueError(f"num_partitions={num_partitions} must divide the {len(devices)} devices")
    devices.sort(key=lambda d: (d.process_index, d.id))
    grid = np.array(devices, dtype=object).reshape(len(devices) // num_partitions, num_partitions)
    return Mesh(grid, MESH_AXES, axis_types=(AxisType.Auto, AxisType.Auto))


class ModelBasedPjitPartitioner(PjitPartitioner):
    """t5x's other partitioner name (its pretrain.gin binds this one); the same mesh and rules."""
