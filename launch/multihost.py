"""Multi-host start-up: jax.distributed on GPU/TPU/CPU clusters, gloo collectives on CPU.

Call `initialize(args)` before anything touches a JAX device. With t5x's flags
(`--coordinator_address host:port --process_count N --process_index i`) it starts JAX's
distributed runtime; on TPU VMs and SLURM/Open MPI GPU clusters `--multiprocess_gpu` (or a TPU pod
slice) lets JAX discover them itself. On CPU the processes exchange data over gloo, which is how
multi-host training is tested on one machine (tests/test_train_multihost.py).
"""

from __future__ import annotations

import logging

import jax

log = logging.getLogger("launch")


def initialize(args) -> None:
    explicit = args.coordinator_address is not None
    if not explicit and not args.multiprocess_gpu and (args.process_count or 1) == 1:
        return
    if explicit and (args.process_count is None or args.process_index is None):
        raise ValueError("--coordinator_address needs --process_count and --process_index")
    # Gloo is JAX's CPU collective implementation across processes; harmless on GPU/TPU.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {}
    if explicit:
        kwargs = dict(coordinator_address=args.coordinator_address,
                      num_processes=args.process_count, process_id=args.process_index)
    jax.distributed.initialize(**kwargs)
    log.info("process %d of %d; %d local / %d global devices", jax.process_index(),
             jax.process_count(), jax.local_device_count(), jax.device_count())


def configure_data(args) -> None:
    """--tfds_data_dir and --seqio_additional_cache_dirs, as t5x applies them."""
    import seqio

    if args.tfds_data_dir:
        seqio.set_tfds_data_dir_override(args.tfds_data_dir)
    dirs = [d for d in (args.seqio_additional_cache_dirs or "").split(",") if d]
    if dirs:
        seqio.add_global_cache_dirs(dirs)
