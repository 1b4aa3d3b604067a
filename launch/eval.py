"""Evaluate a checkpoint: loss per task of a Mixture, and decoded-output accuracy for text-to-text
tasks (t5x's eval.py interface).

    python -m launch.eval --gin_file=gin/runs/eval.gin --gin_file=gin/models/palm_tiny.gin \
        --gin.CHECKPOINT_PATH=\"runs/tiny/checkpoint_100\" \
        --gin.EVAL_OUTPUT_DIR=\"runs/tiny/eval\" \
        --gin.MIXTURE_OR_TASK_NAME=\"palm_demo\" --gin.TASK_FEATURE_LENGTHS="{'targets': 512}"

For every task of the Mixture with the split (default 'validation'):
  * teacher-forced loss, accuracy, z_loss over the whole split, read and stepped exactly as
    training-time evaluation does (launch/inputs/data.py, launch/evaluation/teacher_forced.py:
    LMFeatureConverter, or
    PrefixLMFeatureConverter with loss on the targets only when the mixture has an 'inputs'
    feature; every process runs the same number of steps);
  * for tasks with 'inputs' (text-to-text), greedy decoding of the targets from the inputs with
    model/decoding.py, reported as `exact_match` (decoded text == target text) plus the task's own
    seqio metric functions, if any.
Results go to EVAL_OUTPUT_DIR/eval_results.json (and the log).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys

import jax
import jax.numpy as jnp
import numpy as np
import seqio

from launch import gin_utils, t5x_compat
from launch.cli import entry_point
from launch.evaluation import defaults as eval_defaults
from launch.evaluation import inference as infer_eval
from launch.evaluation import teacher_forced as evaluation
from launch.inputs import data as data_lib
from launch.partitioning import PjitPartitioner
from launch.run import checkpoints as ckpt_lib
from launch.run import paths
from launch.trainer import Trainer
from launch.utils import DatasetConfig, RestoreCheckpointConfig
from model import decoding
from model.train_step import normalise

log = logging.getLogger("launch")


def exact_match(predictions: list[str], targets: list[str]) -> float:
    """Fraction of predictions equal to their target (after stripping surrounding whitespace)."""
    if not targets:
        return 0.0
    return float(np.mean([p.strip() == t.strip() for p, t in zip(predictions, targets)]))


def _decode_task(params, config, cfg: DatasetConfig, task: seqio.Task, batch_size: int,
                 max_examples: int | None) -> dict:
    """Greedy decoding of the targets from the inputs; exact match and the task's metrics."""
    ds = task.get_dataset(dict(cfg.task_feature_lengths), split=cfg.split, shuffle=False,
                          num_epochs=1, use_cached=cfg.use_cached)
    if max_examples:
        ds = ds.take(max_examples)
    examples = list(ds.as_numpy_iterator())
    if not examples:
        return {}
    vocab = task.output_features["targets"].vocabulary
    max_new = cfg.task_feature_lengths["targets"]
    predictions, targets = [], []
    for start in range(0, len(examples), batch_size):
        chunk = examples[start:start + batch_size]
        lengths = np.array([len(e["inputs"]) for e in chunk], np.int32)
        prompts = np.zeros((batch_size, max(int(lengths.max()), 1)), np.int32)
        for row, example in enumerate(chunk):
            prompts[row, :len(example["inputs"])] = example["inputs"]
        full_lengths = np.ones(batch_size, np.int32)
        full_lengths[:len(chunk)] = np.maximum(lengths, 1)
        out = decoding.generate(params, config, jnp.asarray(prompts), jnp.asarray(full_lengths),
                                max_new_tokens=max_new, rng=jax.random.PRNGKey(0),
                                temperature=0.0,
                                vocab_size=min(vocab.vocab_size, config.vocab_size))
        tokens, counts = jax.device_get((out.tokens, out.num_tokens))
        for row, example in enumerate(chunk):
            ids = [int(t) for t in tokens[row, :counts[row]] if t != config.eos_id]
            predictions.append(vocab.decode(ids))
            target = example.get("targets_pretokenized")
            targets.append(target.decode() if isinstance(target, bytes) else
                           vocab.decode([int(t) for t in example["targets"]
                                         if t != config.eos_id]))
    results = {"exact_match": exact_match(predictions, targets),
               "decoded_examples": len(predictions)}
    for metric_fn in task.predict_metric_fns:
        for name, value in metric_fn(targets, predictions).items():
            results[name] = float(getattr(value, "value", value))
    results["samples"] = [{"prediction": p, "target": t}
                          for p, t in list(zip(predictions, targets))[:5]]
    return results


def evaluate(*, model=None, dataset_cfg: DatasetConfig,
             restore_checkpoint_cfg: RestoreCheckpointConfig,
             partitioner: PjitPartitioner | None = None, output_dir: str,
             inference_evaluator_cls=seqio.Evaluator, training_evaluator_cls=None,
             summarize_config_fn=gin_utils.summarize_gin_config,
             train_state_initializer_cls=None, train_eval_get_dataset_fn=None,
             fallback_init_rng: int | None = None, use_orbax: bool = True,
             trainer_cls=Trainer, decode_batch_size: int = 8,
             max_decode_examples: int | None = None) -> dict:
    """Evaluates the checkpoint `restore_checkpoint_cfg` names; returns (and writes) the results.

    Takes t5x's evaluate() arguments. As in t5x, tasks with metric functions are decoded and
    scored by `inference_evaluator_cls` (a seqio.Evaluator; its loggers write
    OUTPUT_DIR/inference_eval/); every task also gets its teacher-forced loss.
    `task_feature_lengths=None` measures the longest example of the split; t5x's default split
    'test' falls back to 'validation' when no task has it (launch/evaluation/defaults.py).
    `training_evaluator_cls`, `train_state_initializer_cls`, `train_eval_get_dataset_fn` name
    t5x internals and must stay unset.
    """
    t5x_compat.check_internals(train_eval_get_dataset_fn=train_eval_get_dataset_fn,
                               train_state_initializer_cls=train_state_initializer_cls,
                               use_orbax=use_orbax)
    if training_evaluator_cls is not None:
        raise ValueError("eval_script.evaluate.training_evaluator_cls: teacher-forced metrics are "
                         "always computed here; remove the binding")
    del fallback_init_rng
    data_lib._import_module(dataset_cfg)
    data_lib.lookup(dataset_cfg.mixture_or_task_name)
    split, split_note = eval_defaults.resolve_split(dataset_cfg.mixture_or_task_name,
                                                    dataset_cfg.split)
    if dataset_cfg.task_feature_lengths is None:
        lengths = eval_defaults.derive_feature_lengths(dataset_cfg.mixture_or_task_name, split,
                                                       dataset_cfg.use_cached)
    else:
        lengths = dict(dataset_cfg.task_feature_lengths)
    dataset_cfg = dataclasses.replace(dataset_cfg, split=split, task_feature_lengths=lengths)
    if summarize_config_fn is not None and jax.process_index() == 0:
        summarize_config_fn(model_dir=output_dir, summary_writer=None, step=0)
    partitioner = partitioner or PjitPartitioner()
    trainer = trainer_cls(model=model, partitioner=partitioner)
    path = ckpt_lib.resolve_initial(restore_checkpoint_cfg)
    if path is None:
        raise FileNotFoundError(f"no checkpoint at {restore_checkpoint_cfg.paths}")
    state, _ = ckpt_lib.restore_from(path, trainer.abstract_state())
    step = int(jax.device_get(state.step))
    shard, num_shards = partitioner.data_layout
    if dataset_cfg.batch_size % num_shards:
        raise ValueError(f"batch size {dataset_cfg.batch_size} must divide by {num_shards} hosts")
    host_batch = dataset_cfg.batch_size // num_shards
    task_names = data_lib.eval_task_names(dataset_cfg)
    if not task_names:
        raise ValueError(f"no task of {dataset_cfg.mixture_or_task_name!r} has a "
                         f"{dataset_cfg.split!r} split")
    params = state.params
    if restore_checkpoint_cfg.dtype != "float32":
        params = jax.tree.map(lambda x: x.astype(restore_checkpoint_cfg.dtype), params)
    results = {"checkpoint": path, "step": step, "split": dataset_cfg.split,
               "task_feature_lengths": lengths, "tasks": {}}
    if split_note:
        results["split_note"] = split_note
    inference = None
    if inference_evaluator_cls is not None:
        inference = infer_eval.InferenceEvaluator(
            dataclasses.replace(dataset_cfg, pack=False,
                                task_feature_lengths=dataset_cfg.task_feature_lengths),
            inference_evaluator_cls, trainer.config, output_dir)
    scored = {t.name for t in inference.eval_tasks} if inference else set()
    if inference is not None and not scored:
        log.info("no task of %r has metric functions: no decoding evaluation; every task gets "
                 "its teacher-forced loss on the %r split", dataset_cfg.mixture_or_task_name,
                 dataset_cfg.split)
        inference.close()
    padding = data_lib.zero_batch(dataset_cfg, host_batch)
    overall = {}
    for name in task_names:
        task = seqio.get_mixture_or_task(name)
        batches = data_lib.iter_eval_batches(dataset_cfg, name, (shard, num_shards), host_batch)
        sums = evaluation.loss_sums(trainer, params, batches, padding)
        sums = {k: float(v) for k, v in sums.items()} if sums else {}
        entry = {k: float(v) for k, v in normalise(sums).items()} if sums else {}
        overall = {k: overall.get(k, 0.0) + v for k, v in sums.items()}
        if "inputs" in task.output_features and task.name not in scored:
            entry.update(_decode_task(params, trainer.config, dataset_cfg, task,
                                      decode_batch_size, max_decode_examples))
        results["tasks"][task.name] = entry
        log.info("%s: %s", task.name, ", ".join(f"{k} {v:.4f}" for k, v in entry.items()
                                                 if isinstance(v, float)))
    if inference is not None and scored:
        decoded = inference.evaluate(params, step)
        inference.close()
        for name, metrics in infer_eval.flatten(decoded).items():
            _, task_name, metric = name.split("/", 2)
            results["tasks"].setdefault(task_name, {})[metric] = metrics
    if overall:
        results["overall"] = {k: float(v) for k, v in normalise(overall).items()}
    if jax.process_index() == 0:
        results_path = paths.join(output_dir, "eval_results.json")
        paths.write_text_atomic(results_path, json.dumps(results, indent=2))
        log.info(_summary(results, results_path))
    return results


def _summary(results: dict, results_path: str) -> str:
    """The console's last line: what was evaluated, on which split (and why), the overall loss."""
    note = f" ({results['split_note']})" if "split_note" in results else ""
    overall = results.get("overall")
    loss = (f"overall loss {overall['loss']:.4f} over {overall['weight_sum']:,.0f} target "
            f"tokens" if overall else "no task had examples to score")
    return (f"evaluated {results['checkpoint']} (step {results['step']}) on the "
            f"{results['split']!r} split{note}: {loss}, {len(results['tasks'])} tasks; "
            f"results in {results_path}")


def main(argv: list[str] | None = None) -> int:
    return entry_point.run(evaluate, "python -m launch.eval", __doc__.split("\n")[0], argv)


if __name__ == "__main__":
    from launch import eval as _eval_module
    sys.exit(_eval_module.main())
