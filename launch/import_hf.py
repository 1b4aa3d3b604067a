"""Import a Hugging Face Cohere-architecture folder with one key/value head as a checkpoint that
fine-tuning starts from.

    python -m launch.import_hf --hf_dir=hf/x --output_dir=runs/imported [--step=0] \
        [--scan_layers] [--gin_file=gin/optimizers/adamw_cosine.gin]

Writes OUTPUT_DIR/checkpoint_<step>/ (Orbax, t5x layout, with checksums: a full train state, the
optimizer state freshly initialised for the parameters) and OUTPUT_DIR/config.gin: the model's
PalmConfig bindings and INITIAL_CHECKPOINT_PATH, so that

    python -m launch.train --gin_file=gin/runs/finetune.gin --gin_file=OUTPUT_DIR/config.gin \
        --gin.MODEL_DIR="'runs/ft'" --gin.MIXTURE_OR_TASK_NAME=... ...

fine-tunes it. The optimizer state is built by the optimizer the fine-tuning run will use:
PaLM's Adafactor (pretrain.gin's) unless --gin_file binds `trainer.Trainer.optimizer`
otherwise. The folder's spm.model, when present, is copied beside config.gin. Parameters are
those of the folder bit for bit (export then import is the identity; bfloat16 weights are
widened to float32 exactly). Any other architecture, a key/value head count other than one,
features PaLM's block does not have (biases, QK norm, RoPE scaling, another logit scale) or missing
files exit 2 with the reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys

import jax.numpy as jnp
import numpy as np

import gin
from launch import gin_utils
from launch.hf import cohere, safetensors_shards, tokenizer_files
from launch.partitioning import PjitPartitioner
from launch.run.checkpoints import Checkpoints, step_dir
from launch.trainer import Trainer
from launch.utils import SaveCheckpointConfig
from model.config import PalmConfig
from model.train_step import TrainState
from pipeline import console

log = logging.getLogger("launch")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m launch.import_hf",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--hf_dir", required=True, help="a Hugging Face model folder")
    parser.add_argument("--output_dir", required=True, help="the new run directory")
    parser.add_argument("--step", type=int, default=0, help="step of the checkpoint (default 0)")
    parser.add_argument("--scan_layers", action="store_true",
                        help="store the layers stacked (PalmConfig.scan_layers=True)")
    parser.add_argument("--gin_file", action="append", default=[],
                        help="gin file(s) binding the fine-tuning optimizer, when not Adafactor")
    return parser


def read_config(hf_dir: str, scan_layers: bool) -> PalmConfig:
    path = os.path.join(hf_dir, "config.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file (not a Hugging Face model folder)")
    try:
        with open(path) as f:
            hf = json.load(f)
    except ValueError as e:
        raise cohere.Unsupported(f"{path}: not JSON ({e})") from e
    fields = cohere.palm_fields(hf, path)
    return PalmConfig(**fields, scan_layers=scan_layers, dtype="float32")


def read_params(hf_dir: str, config: PalmConfig) -> dict:
    """The Flax parameter tree from the folder's tensors, float32, checked name by name."""
    reader = safetensors_shards.ShardReader(hf_dir)
    entries = cohere.entries(config)
    wanted = {e.hf_name for e in entries}
    found = reader.names()
    extra = sorted(found - wanted)
    if extra:
        raise cohere.Unsupported(f"{hf_dir}: tensors PaLM's block has no place for: "
                                 f"{', '.join(extra[:5])}{' ...' if len(extra) > 5 else ''}")
    missing = sorted(wanted - found)
    if missing:
        raise FileNotFoundError(f"{hf_dir}: tensors missing from the safetensors files: "
                                f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    stacked: dict[tuple[str, ...], list] = {}
    params: dict = {}
    for entry in entries:
        weight = reader.read(entry.hf_name)
        if tuple(weight.shape) != cohere.hf_shape(entry, config):
            raise cohere.Unsupported(f"{hf_dir}: {entry.hf_name} has shape {weight.shape}; "
                                     f"config.json gives {cohere.hf_shape(entry, config)}")
        if weight.dtype not in (np.float32, safetensors_shards.DTYPES["bfloat16"], np.float16):
            raise cohere.Unsupported(f"{hf_dir}: {entry.hf_name} has dtype {weight.dtype}")
        array = cohere.from_hf(weight, entry, config).astype(np.float32)
        if entry.layer is None:
            _put(params, entry.palm_path, array)
        else:
            stacked.setdefault(entry.palm_path, []).append(array)
    for path, layers in stacked.items():
        _put(params, path, np.stack(layers))
    return params


def _put(tree: dict, path: tuple[str, ...], value) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def config_gin(config: PalmConfig, hf_dir: str, checkpoint: str) -> str:
    fields = ("vocab_size", "num_layers", "num_heads", "d_model", "head_dim", "d_ff",
              "scan_layers", "logits_via_embedding", "rope_max_wavelength",
              "layer_norm_epsilon", "eos_id", "pad_id")
    lines = [f"# Written by launch.import_hf from {hf_dir}: the model of {checkpoint}.",
             ("# Fine-tune it: python -m launch.train --gin_file=gin/runs/finetune.gin "
              f"--gin_file={os.path.dirname(checkpoint)}/config.gin"),
             ("#   --gin.MODEL_DIR=... --gin.MIXTURE_OR_TASK_NAME=... "
              "--gin.TASK_FEATURE_LENGTHS=... --gin.TRAIN_STEPS=..."),
             "import model.config", ""]
    lines += [f"PalmConfig.{name} = {getattr(config, name)!r}" for name in fields]
    lines += ["", "MODEL = @PalmConfig()", f"INITIAL_CHECKPOINT_PATH = {checkpoint!r}", ""]
    return "\n".join(lines)


def _trainer(config: PalmConfig, gin_files: list[str]) -> Trainer:
    if not gin_files:
        return Trainer(model=config, partitioner=PjitPartitioner())
    gin_utils.parse_gin(gin_files, [], finalize=False)
    try:
        return gin.get_configurable(Trainer)(model=config, partitioner=PjitPartitioner())
    finally:
        with gin.unlock_config():
            gin.clear_config()


def import_folder(args: argparse.Namespace) -> str:
    hf_dir = os.path.abspath(args.hf_dir)
    if not os.path.isdir(hf_dir):
        raise FileNotFoundError(f"--hf_dir={hf_dir}: no such directory")
    if args.step < 0:
        raise ValueError(f"--step={args.step}: must be >= 0")
    out = os.path.abspath(args.output_dir)
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)):
        raise ValueError(f"--output_dir={out} exists and is not empty")
    config = read_config(hf_dir, args.scan_layers)
    params = read_params(hf_dir, config)
    vocabulary = os.path.join(hf_dir, tokenizer_files.VOCAB_FILE)
    if os.path.isfile(vocabulary):
        tokenizer_files.check_ids(vocabulary, config.eos_id, config.pad_id, config.vocab_size)
    trainer = _trainer(config, args.gin_file)
    params = {k: _as_jax(v) for k, v in params.items()}
    state = TrainState(step=jnp.asarray(args.step, jnp.int32), params=params,
                       opt_state=trainer.optimizer.init(params))

    partial = out.rstrip("/") + ".incomplete"
    if os.path.exists(partial):
        shutil.rmtree(partial)
    try:
        checkpoints = Checkpoints(partial, SaveCheckpointConfig())
        checkpoints.save(args.step, state, {"examples_consumed": 0, "spike_events": [],
                                            "imported_from": hf_dir})
        checkpoints.wait()
        checkpoints.close()
        checkpoint = step_dir(out, args.step)
        with open(os.path.join(partial, "config.gin"), "w") as f:
            f.write(config_gin(config, hf_dir, checkpoint))
        if os.path.isfile(vocabulary):
            shutil.copyfile(vocabulary, os.path.join(partial, tokenizer_files.VOCAB_FILE))
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if os.path.exists(out):
        os.rmdir(out)
    os.replace(partial, out)
    log.info("imported %s as %s (%s)", hf_dir, checkpoint, config)
    return checkpoint


def _as_jax(tree):
    if isinstance(tree, dict):
        return {k: _as_jax(v) for k, v in tree.items()}
    return jnp.asarray(tree)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console.log_to_console("%(asctime)s %(levelname)s %(message)s", logging.INFO)
    try:
        import_folder(args)
    except (cohere.Unsupported, FileNotFoundError, ValueError,
            gin_utils.GinConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
