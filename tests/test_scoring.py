"""t5x scoring: per-example log-likelihoods (launch/evaluation/score.py) against an independent
numpy computation from the model's logits; launch.infer mode='score' writing t5x's lines;
rank classification (tasks/rank_classification.py) and the text metrics (tasks/metrics.py)
through launch.eval's seqio Evaluator."""

import json
import os
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest
import seqio

from launch import eval as eval_cli
from launch import infer as infer_cli
from launch.evaluation import score as score_lib
from model.config import PalmConfig
from model.network import PalmModel
from tasks import metrics, rank_classification
from tests import hf_fixtures, score_tasks


def _read_json(path):
    return json.loads(pathlib.Path(path).read_text())

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = PalmConfig(vocab_size=512, num_layers=1, num_heads=4, d_model=64, head_dim=16,
                  dtype="float32")
MODEL_FLAGS = ["--gin_file=gin/models/palm_tiny.gin", "--gin.PalmConfig.num_layers=1",
               "--gin.PalmConfig.dtype='float32'",
               "--gin.MIXTURE_OR_TASK_MODULE='tests.score_tasks'"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("score") / "run")
    params = hf_fixtures.write_run(path, TINY, steps=(1,))
    old = os.getcwd()
    os.chdir(ROOT)
    yield path, params
    os.chdir(old)


def _reference_score(params, inputs: list[int], targets: list[int]) -> float:
    """log p(targets | inputs) from the full logits, in numpy."""
    tokens = np.array(inputs + targets)
    shifted = np.concatenate([[0], tokens[:-1]])
    logits = np.asarray(PalmModel(TINY).apply({"params": params}, jnp.asarray(shifted[None])))[0]
    logits = logits.astype(np.float64)
    log_probs = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1,
                                keepdims=True)) - logits.max(-1, keepdims=True)
    positions = np.arange(len(inputs), len(tokens))
    return float(log_probs[positions, tokens[positions]].sum())


def _raw_examples(task_name):
    task = seqio.get_mixture_or_task(task_name)
    ds = task.get_dataset(None, split="validation", shuffle=False)
    return list(ds.as_numpy_iterator())


def test_scores_are_target_log_likelihoods(run):
    _, params = run
    examples = _raw_examples(score_tasks.CHOICE)
    ds = seqio.get_mixture_or_task(score_tasks.CHOICE).get_dataset(
        {"inputs": 12, "targets": 6}, split="validation", shuffle=False)
    features = list(seqio.DecoderFeatureConverter(pack=False)(
        ds, {"inputs": 12, "targets": 6}).as_numpy_iterator())
    scored = score_lib.score_examples(params, TINY, list(enumerate(features))[:7], batch_size=4)
    assert [i for i, _ in scored] == list(range(7))
    for (i, score), example in zip(scored, examples):
        expected = _reference_score(params, example["inputs"].tolist(),
                                    example["targets"].tolist())
        assert score == pytest.approx(expected, abs=1e-4) and score < 0


def test_infer_score_mode_writes_t5x_score_lines(run, tmp_path):
    path, params = run
    out = tmp_path / "infer"
    assert infer_cli.main(["--gin_file=gin/runs/infer.gin", *MODEL_FLAGS,
                           f"--gin.CHECKPOINT_PATH='{path}/checkpoint_1'",
                           f"--gin.INFER_OUTPUT_DIR='{out}'",
                           "--gin.infer_script.infer.mode='score'",
                           f"--gin.MIXTURE_OR_TASK_NAME='{score_tasks.CHOICE}'",
                           "--gin.TASK_FEATURE_LENGTHS={'inputs': 12, 'targets': 6}"]) == 0
    lines = [json.loads(line) for line in
             (out / f"{score_tasks.CHOICE}-score.jsonl-00000-of-00001").read_text().splitlines()]
    examples = _raw_examples(score_tasks.CHOICE)
    assert len(lines) == len(examples) == 3 * score_tasks.EXAMPLES
    assert set(lines[0]) == {"inputs", "score"}
    assert lines[4]["inputs"] == {"inputs_pretokenized": "1 then", "targets_pretokenized": "8"}
    assert lines[4]["score"] == pytest.approx(_reference_score(
        params, examples[4]["inputs"].tolist(), examples[4]["targets"].tolist()), abs=1e-4)
    assert (out / f"{score_tasks.CHOICE}-score.jsonl-00000-of-00001.COMPLETED").exists()


def test_eval_scores_rank_classification_and_text_metrics(run, tmp_path):
    path, params = run
    out = tmp_path / "eval"
    assert eval_cli.main(["--gin_file=gin/runs/eval.gin", *MODEL_FLAGS,
                          f"--gin.CHECKPOINT_PATH='{path}/checkpoint_1'",
                          f"--gin.EVAL_OUTPUT_DIR='{out}'",
                          f"--gin.MIXTURE_OR_TASK_NAME='{score_tasks.MIXTURE}'"]) == 0
    results = _read_json(out / "eval_results.json")["tasks"]
    choice = results[score_tasks.CHOICE]
    assert choice["accuracy"] == pytest.approx(_expected_choice_accuracy(params))
    assert "f1_macro" in choice and np.isfinite(choice["loss"])
    t2t = results[score_tasks.T2T]
    for key in ("exact_match", "bleu", "chrf", "rouge1", "rouge2", "rougeL"):
        assert 0.0 <= t2t[key] <= 100.0, key


def _expected_choice_accuracy(params) -> float:
    """Accuracy of score_test.choice from independent scores of every candidate."""
    examples = _raw_examples(score_tasks.CHOICE)
    scores = [_reference_score(params, e["inputs"].tolist(), e["targets"].tolist())
              for e in examples]
    best = np.argmax(np.array(scores).reshape(score_tasks.EXAMPLES, 3), axis=1)
    return 100 * float(np.mean(best == 0))


def test_training_time_evaluator_scores_rank_classification(run):
    """launch.train's decoding evaluation (InferenceEvaluator) passes our score_fn to seqio."""
    from launch.evaluation import inference
    from launch.utils import DatasetConfig

    _, params = run
    cfg = DatasetConfig(mixture_or_task_name=score_tasks.CHOICE, task_feature_lengths=None,
                        split="validation", batch_size=8, shuffle=False, seed=0, pack=False)
    evaluator = inference.InferenceEvaluator(cfg, seqio.Evaluator, TINY, None)
    assert evaluator.needs_scores
    flat = inference.flatten(evaluator.evaluate(params, step=1))
    evaluator.close()
    assert flat[f"inference_eval/{score_tasks.CHOICE}/accuracy"] == pytest.approx(
        _expected_choice_accuracy(params))


def test_rank_classification_metric_groups_candidates_by_example():
    targets = [((0, 0), True, 1.0, 2), ((0, 1), False, 1.0, 2), ((0, 2), False, 1.0, 9),
               ((1, 0), False, 1.0, 2), ((1, 1), True, 1.0, 2), ((1, 2), False, 1.0, 9),
               ((2, 0), True, 1.0, 2), ((2, 1), False, 1.0, 2), ((2, 2), False, 1.0, 9)]
    scores = [-1.0, -2.0, -5.0, -1.0, -3.0, -9.0, -4.0, -1.0, -8.0]
    result = rank_classification.metric(targets, scores)
    assert result["accuracy"] == pytest.approx(100 / 3)  # only example 0 ranks its answer first
    # Per-token normalisation changes the winner where candidate lengths differ.
    assert rank_classification.metric(targets, [-1.0, -2.0, -5.0, -1.0, -3.0, -2.7,
                                                -4.0, -1.0, -8.0],
                                      normalize_by_target_length=True)["accuracy"] == \
        pytest.approx(100 / 3)


def test_text_metrics_on_known_cases():
    assert metrics.accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == {"accuracy": 75.0}
    assert metrics.exact_match(["a b", "c"], ["a b", "c "]) == {"exact_match": 50.0}
    assert metrics.f1_macro(["x", "y", "y", "x"], ["x", "y", "x", "x"])["f1_macro"] == \
        pytest.approx(100 * (0.8 + 2 / 3) / 2)
    same = ["the cat sat on the mat today", "a quick brown fox jumps over it"]
    assert metrics.bleu(same, same)["bleu"] == pytest.approx(100.0)
    assert metrics.chrf(same, same)["chrf"] == pytest.approx(100.0)
    assert metrics.rouge(same, same) == pytest.approx({"rouge1": 100.0, "rouge2": 100.0,
                                                       "rougeL": 100.0})
    other = ["the dog sat on a mat", "slow green turtles"]
    assert 0 < metrics.bleu(same, ["the cat sat on the mat", "a fox"])["bleu"] < 100
    assert metrics.rouge(same, other)["rouge1"] < 50
