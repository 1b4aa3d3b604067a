"""Inference from a checkpoint, written as JSON Lines the way t5x's infer.py writes them.

    python -m launch.infer --gin_file=gin/runs/infer.gin --gin_file=gin/models/palm_tiny.gin \
        --gin.CHECKPOINT_PATH=\"runs/tiny/checkpoint_100\" --gin.INFER_OUTPUT_DIR=\"runs/infer\" \
        --gin.MIXTURE_OR_TASK_NAME=\"my_t2t_task\" \
        --gin.TASK_FEATURE_LENGTHS="{'inputs': 64, 'targets': 64}"

Gin run files bind `infer_script.infer` after `from launch import infer as infer_script` (t5x's
infer.gin says `import __main__ as infer_script`). For every task of the Task/Mixture with the
split, its examples (this shard's: `shard_id` of `num_shards`) are decoded greedily with the KV
cache (launch/evaluation/predict.py) and written to
`OUTPUT_DIR/<task>-predict.jsonl-<shard_id:05>-of-<num_shards:05>`, one line per example:
`{"inputs": {"<feature>_pretokenized": ...}, "prediction": "<decoded text>"}` (plus
`prediction_tokens` with `output_ids`), then a `.COMPLETED` marker. Work is done in chunks of
`checkpoint_period` batches kept under `OUTPUT_DIR/tmp-<task>-<shard>/`: a restarted job reuses the
finished chunks and skips finished tasks, as t5x's does.

Mode 'score' (t5x's): every example's log-likelihood of its targets given its inputs (the sum of
log p over the target tokens, float32, no z-loss; launch/evaluation/score.py) is written instead,
`{"inputs": {...}, "score": <float>}` per line, in `<task>-score.jsonl-...`. Mode
'predict_with_aux' is refused with a clear message.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import sys

import jax
import numpy as np
import seqio

from launch import gin_utils
from launch.cli import entry_point
from launch.evaluation import defaults as eval_defaults
from launch.evaluation import predict
from launch.evaluation import score as score_lib
from launch.inputs import data as data_lib
from launch.partitioning import PjitPartitioner
from launch.run import checkpoints as ckpt_lib
from launch.run import paths
from launch.trainer import Trainer
from launch.utils import DatasetConfig, RestoreCheckpointConfig

log = logging.getLogger("launch")


def _json_compat(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray):
        return [_json_compat(v) for v in value.tolist()] if value.dtype == object else \
            value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _task_examples(task: seqio.Task, cfg: DatasetConfig, split: str, lengths: dict,
                   shard: seqio.ShardInfo) -> tuple[list[dict], list[dict]]:
    """(raw task examples, model features) of this shard, in the same order."""
    ds = task.get_dataset(lengths, split=split, shuffle=False, num_epochs=1, shard_info=shard,
                          use_cached=cfg.use_cached, seed=cfg.seed)
    raw = list(ds.as_numpy_iterator())
    converter = seqio.DecoderFeatureConverter(pack=False)
    model_lengths = {k: v for k, v in lengths.items() if k in task.output_features}
    features = list(converter(ds, model_lengths).as_numpy_iterator())
    return raw, features


def _write_chunk(path: str, raw: list[dict], outputs: list, vocabulary, output_ids: bool,
                 mode: str) -> None:
    """One line per example: t5x's `{"inputs", "prediction"}` or `{"inputs", "score"}`."""
    with paths.atomic_writer(path) as f:
        for example, output in zip(raw, outputs):
            record = {"inputs": {k: _json_compat(v) for k, v in example.items()
                                 if k.endswith("_pretokenized")}}
            if mode == "score":
                record["score"] = float(output)
            else:
                record["prediction"] = vocabulary.decode(output)
                if output_ids:
                    record["prediction_tokens"] = list(output)
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def infer(*, mode: str = "predict", model=None, dataset_cfg: DatasetConfig,
          restore_checkpoint_cfg: RestoreCheckpointConfig,
          partitioner: PjitPartitioner | None = None, output_dir: str,
          checkpoint_period: int = 100, shard_id: int = 0, num_shards: int = 1,
          merge_chunked_results: bool = True, write_fn=None, checkpoint_ds_iter: bool = True,
          train_state_initializer_cls=None, fallback_init_rng: int | None = None,
          merge_fn=None, summarize_config_fn=gin_utils.summarize_gin_config,
          verify_matching_vocabs_fn=None, output_vocab_feature_name: str = "targets",
          file_extension: str = "jsonl", keep_aux_as_numpy: bool = False,
          use_orbax: bool = True, output_ids: bool = False,
          trainer_cls=Trainer) -> dict[str, str]:
    """Writes this shard's predictions for every task; returns {task: output file}.

    Arguments are t5x's infer(). `write_fn`, `merge_fn` and `train_state_initializer_cls` name
    t5x internals and must stay unset; `keep_aux_as_numpy` has no effect in 'predict' mode;
    `checkpoint_ds_iter` is honoured through the chunk files (a chunk is the unit of resumption).
    `mode='score'` writes log-likelihoods instead of decoded text (the module docstring).
    """
    if mode not in ("predict", "score"):
        raise ValueError(f"infer_script.infer.mode={mode!r}: 'predict' (greedy decoding) and "
                         "'score' (log-likelihood of the targets) are supported here; "
                         "'predict_with_aux' is not")
    for name, value in (("write_fn", write_fn), ("merge_fn", merge_fn),
                        ("train_state_initializer_cls", train_state_initializer_cls)):
        if value is not None:
            raise ValueError(f"infer_script.infer.{name}: a t5x internal hook this entry point "
                             "does not call; remove the binding")
    if not use_orbax:
        raise ValueError("infer_script.infer.use_orbax=False: checkpoints are always Orbax")
    if not 0 <= shard_id < num_shards:
        raise ValueError(f"shard_id must be in 0..{num_shards - 1}, got {shard_id}")
    if checkpoint_period < 1:
        raise ValueError(f"checkpoint_period must be >= 1 batches, got {checkpoint_period}")
    del fallback_init_rng, keep_aux_as_numpy
    data_lib._import_module(dataset_cfg)
    data_lib.lookup(dataset_cfg.mixture_or_task_name)
    split, note = eval_defaults.resolve_split(dataset_cfg.mixture_or_task_name, dataset_cfg.split)
    lengths = (dict(dataset_cfg.task_feature_lengths) if dataset_cfg.task_feature_lengths else
               eval_defaults.derive_feature_lengths(dataset_cfg.mixture_or_task_name, split,
                                                    dataset_cfg.use_cached))
    partitioner = partitioner or PjitPartitioner()
    trainer = trainer_cls(model=model, partitioner=partitioner)
    if verify_matching_vocabs_fn is not None:
        verify_matching_vocabs_fn(dataset_cfg, trainer.config)
    path = ckpt_lib.resolve_initial(restore_checkpoint_cfg)
    if path is None:
        raise FileNotFoundError(f"no checkpoint at {restore_checkpoint_cfg.paths}")
    state, _ = ckpt_lib.restore_from(path, trainer.abstract_state())
    step = int(jax.device_get(state.step))
    params = state.params
    if restore_checkpoint_cfg.dtype != "float32":  # t5x's infer.gin restores in bfloat16
        params = jax.tree.map(lambda x: x.astype(restore_checkpoint_cfg.dtype), params)
    paths.makedirs(output_dir)
    if summarize_config_fn is not None and jax.process_index() == 0:
        summarize_config_fn(model_dir=output_dir, summary_writer=None, step=0)
    outputs = {}
    batch_size = dataset_cfg.batch_size
    for task in eval_defaults.tasks_of(dataset_cfg.mixture_or_task_name):
        if split not in task.splits:
            continue
        name = f"{task.name}-{mode}.{file_extension}-{shard_id:05}-of-{num_shards:05}"
        final = paths.join(output_dir, name)
        outputs[task.name] = final
        if paths.exists(final + ".COMPLETED"):
            log.info("%s is complete; skipping task %s", final, task.name)
            continue
        vocabulary = task.output_features[output_vocab_feature_name].vocabulary
        raw, features = _task_examples(task, dataset_cfg, split, lengths,
                                       seqio.ShardInfo(shard_id, num_shards))
        tmp = paths.join(output_dir, f"tmp-{task.name}-{shard_id:05}-of-{num_shards:05}")
        paths.makedirs(tmp)
        chunk_rows = checkpoint_period * batch_size
        for chunk, start in enumerate(range(0, len(raw), chunk_rows)):
            chunk_path = paths.join(tmp, f"{name}-chunk{chunk:05}")
            if checkpoint_ds_iter and paths.exists(chunk_path):
                continue  # done by an earlier run
            rows = range(start, min(start + chunk_rows, len(raw)))
            run = score_lib.score_examples if mode == "score" else predict.decode_examples
            outputs = run(params, trainer.config, [(i, features[i]) for i in rows],
                          batch_size=batch_size)
            _write_chunk(chunk_path, [raw[i] for i in rows], [out for _, out in outputs],
                         vocabulary, output_ids, mode)
            log.info("%s: %d/%d examples", task.name, rows.stop, len(raw))
        if merge_chunked_results:
            chunks = [paths.join(tmp, n) for n in paths.listdir(tmp)
                      if re.fullmatch(re.escape(name) + r"-chunk\d{5}", n)]
            with paths.atomic_writer(final) as out:
                for chunk_path in chunks:
                    with paths.open_file(chunk_path) as f:
                        shutil.copyfileobj(f, out)
            paths.rmtree(tmp)
            paths.write_text_atomic(final + ".COMPLETED", json.dumps({
                "checkpoint": path, "step": step, "split": split, "split_note": note,
                "examples": len(raw), "task_feature_lengths": lengths}))
        log.info("task %s: %d %s outputs in %s", task.name, len(raw), mode, final)
    if not outputs:
        raise eval_defaults.SplitError(f"no task of {dataset_cfg.mixture_or_task_name!r} has a "
                                       f"{split!r} split")
    return outputs


def main(argv: list[str] | None = None) -> int:
    return entry_point.run(infer, "python -m launch.infer", __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    from launch import infer as _infer_module
    sys.exit(_infer_module.main())
