"""Multi-host start-up: jax.distributed on GPU/TPU/CPU clusters, gloo collectives on CPU.

Call `initialize(args)` before anything touches a JAX device. t5x's flags: `--multiprocess_gpu`
with `--coordinator_address host:port --process_count N --process_index i` (and optionally
`--initialization_timeout`) start JAX's distributed runtime; with `--multiprocess_gpu` alone JAX
discovers the job itself on SLURM, Open MPI and TPU pod slices. `--coordinator_address` with the
count and index also starts it without `--multiprocess_gpu` (what launch.local_multiprocess
passes). On CPU the processes exchange data over gloo, which is how multi-host training is tested
on one machine (tests/test_train_multihost.py).

Inconsistent flags raise MultihostFlagError (entry points print it and exit with status 2)
before JAX is asked to connect anywhere.
"""

from __future__ import annotations

import logging
import os

import jax

log = logging.getLogger("launch")

# Environment variables by which jax.distributed discovers a cluster without a coordinator flag.
_CLUSTER_ENV = ("SLURM_JOB_ID", "OMPI_MCA_orte_hnp_uri", "PMIX_NAMESPACE", "TPU_WORKER_HOSTNAMES",
                "MEGASCALE_COORDINATOR_ADDRESS", "JAX_COORDINATOR_ADDRESS")


class MultihostFlagError(ValueError):
    """Multi-process flags that cannot start a job; the message says which flags to give."""


def check_flags(args) -> bool:
    """Whether jax.distributed must be started; raises MultihostFlagError on bad combinations."""
    explicit = args.coordinator_address is not None
    given = [f"--{name}" for name in ("process_count", "process_index")
             if getattr(args, name) is not None]
    timeout = getattr(args, "initialization_timeout", None)
    if timeout is not None and timeout <= 0:
        raise MultihostFlagError(f"--initialization_timeout must be a positive number of seconds, "
                                 f"got {timeout}")
    if explicit and len(given) < 2:
        raise MultihostFlagError("--coordinator_address needs --process_count and "
                                 "--process_index too (e.g. --process_count=2 --process_index=0)")
    if explicit:
        count, index = args.process_count, args.process_index
        if count < 1 or not 0 <= index < count:
            raise MultihostFlagError(f"--process_index must be in 0..{count - 1} for "
                                     f"--process_count={count}, got {index}")
        return True
    if args.multiprocess_gpu:
        if given:
            raise MultihostFlagError(f"{' and '.join(given)} given without --coordinator_address: "
                                     "pass --coordinator_address=HOST:PORT of process 0 as well")
        if not any(os.environ.get(name) for name in _CLUSTER_ENV):
            raise MultihostFlagError(
                "--multiprocess_gpu needs --coordinator_address=HOST:PORT, --process_count=N and "
                "--process_index=I (or a SLURM / Open MPI / TPU job JAX can discover, none found "
                "in the environment); for a single process drop --multiprocess_gpu")
        return True
    if given and (args.process_count or 1) > 1:
        raise MultihostFlagError(f"{' and '.join(given)} given without --coordinator_address: "
                                 "pass --multiprocess_gpu --coordinator_address=HOST:PORT")
    return False


def initialize(args) -> None:
    if not check_flags(args):
        return
    # Gloo is JAX's CPU collective implementation across processes; harmless on GPU/TPU.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    kwargs = {}
    if args.coordinator_address is not None:
        kwargs = dict(coordinator_address=args.coordinator_address,
                      num_processes=args.process_count, process_id=args.process_index)
    if getattr(args, "initialization_timeout", None):
        kwargs["initialization_timeout"] = int(args.initialization_timeout)
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
