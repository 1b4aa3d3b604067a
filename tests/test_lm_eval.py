"""launch.lm_eval: the palm_jax lm-eval backend against lm-eval's own `hf` backend on the export
of the same checkpoint (launch.export_hf), on tiny local tasks written here (multiple choice,
1-shot, generation with stop strings, rolling perplexity); the command's files and refusals."""

import glob
import json
import os
import shutil

import jax
import pytest
from hypothesis import given
from hypothesis import strategies as st

from launch import lm_eval as lm_eval_cli
from launch.evaluation import lm_eval_backend
from tests import lm_eval_fixtures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_LENGTH = 32  # small, so that the rolling task spans several windows


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm_eval")
    cache = str(root / "jax_cache")
    jax.config.update("jax_compilation_cache_dir", cache)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        run = lm_eval_fixtures.train_run(str(root / "run"), str(root / "train_tasks"))
    finally:
        os.chdir(old)
    vocabulary = lm_eval_fixtures.train_vocabulary(str(root / "tok"))
    tasks_dir = str(root / "tasks")
    tasks = lm_eval_fixtures.write_tasks(tasks_dir)
    return {"root": root, "run": run, "vocabulary": vocabulary, "tasks_dir": tasks_dir,
            "tasks": tasks}


@pytest.fixture(scope="module")
def export(setup):
    pytest.importorskip("transformers")
    from launch import export_hf

    out = str(setup["root"] / "hf")
    assert export_hf.main([f"--checkpoint={setup['run']}", f"--vocabulary={setup['vocabulary']}",
                           f"--output_dir={out}"]) == 0
    return out


def _evaluate(model, setup, tasks, num_fewshot=None, **kwargs):
    from lm_eval import evaluator
    from lm_eval.tasks import TaskManager

    return evaluator.simple_evaluate(
        model=model, tasks=tasks, num_fewshot=num_fewshot, log_samples=True,
        task_manager=TaskManager(include_path=setup["tasks_dir"]), random_seed=0,
        numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0, **kwargs)


@pytest.fixture(scope="module")
def both(setup, export):
    """Results of palm_jax and of hf on the same tasks: {name: (zero-shot, one-shot)}."""
    pytest.importorskip("accelerate")
    ours = lm_eval_backend.PalmJaxLM(pretrained=setup["run"], vocabulary=setup["vocabulary"],
                                     max_length=MAX_LENGTH, batch_size=4)
    hf_args = {"pretrained": export, "trust_remote_code": True, "dtype": "float32",
                   "max_length": MAX_LENGTH}
    out = {}
    hf_kwargs = {"model_args": hf_args, "batch_size": 4, "device": "cpu"}
    for name, model, kwargs in (("ours", ours, {}), ("hf", "hf", hf_kwargs)):
        out[name] = (_evaluate(model, setup, setup["tasks"], **kwargs),
                     _evaluate(model, setup, ["t_mc"], num_fewshot=1, **kwargs))
    return out, ours


def _by_doc(results, task):
    return {s["doc_id"]: s for s in results["samples"][task]}


def _loglikelihoods(sample):
    return [r[0] for r in sample["resps"]]


@pytest.mark.slow
def test_loglikelihoods_agree_with_hf_within_1e4(both):
    (ours0, ours1), (hf0, hf1) = both[0]["ours"], both[0]["hf"]
    compared = 0
    for ours, hf, task in ((ours0, hf0, "t_mc"), (ours1, hf1, "t_mc"), (ours0, hf0, "t_ppl")):
        a, b = _by_doc(ours, task), _by_doc(hf, task)
        assert sorted(a) == sorted(b) and a
        for doc_id in a:
            assert a[doc_id]["arguments"] == b[doc_id]["arguments"]  # identical requests
            for x, y in zip(_loglikelihoods(a[doc_id]), _loglikelihoods(b[doc_id])):
                if task == "t_mc":
                    (lx, gx), (ly, gy) = x, y
                    assert gx == gy  # greedy flags
                else:
                    lx, ly = x, y
                assert abs(lx - ly) < 1e-4, (task, doc_id, lx, ly)
                compared += 1
    assert compared >= 6 * 3 * 2 + 6


@pytest.mark.slow
def test_generations_and_metrics_are_identical(both):
    (ours0, ours1), (hf0, hf1) = both[0]["ours"], both[0]["hf"]
    a, b = _by_doc(ours0, "t_gen"), _by_doc(hf0, "t_gen")
    assert [a[i]["resps"] for i in sorted(a)] == [b[i]["resps"] for i in sorted(b)]
    texts = [a[i]["resps"][0][0] for i in sorted(a)]
    assert any(texts) and all("e" not in t and "\n" not in t for t in texts)  # cut at stops
    for ours, hf in ((ours0, hf0), (ours1, hf1)):
        for task, metrics in hf["results"].items():
            for metric, value in metrics.items():
                if isinstance(value, float) and "stderr" not in metric:
                    assert ours["results"][task][metric] == pytest.approx(value, rel=1e-5), \
                        (task, metric)


@pytest.mark.slow
def test_requests_are_bucketed_into_few_shapes(both):
    ours = both[1]
    shapes = {s for s in ours.compiled_shapes if s[0] == "score"}
    assert shapes and all(s[1] == 4 for s in shapes)  # batch rows fixed
    assert {s[2] for s in shapes} <= {16, 32}  # powers of two up to max_length: few compiles


@given(st.integers(1, 5000), st.integers(2, 4096))
def test_bucket_length_covers_and_is_a_power_of_two_or_the_cap(n, cap):
    b = lm_eval_backend.bucket_length(n, cap)
    assert b >= min(n, max(cap, n)) and b >= n
    assert b == max(cap, n) or (b & (b - 1)) == 0


@pytest.mark.slow
def test_command_writes_lm_evals_results_and_samples(setup, tmp_path, capsys):
    out = tmp_path / "out"
    assert lm_eval_cli.main([f"--checkpoint={setup['run']}",
                             f"--vocabulary={setup['vocabulary']}", "--tasks=t_mc,t_gen",
                             f"--include_path={setup['tasks_dir']}", "--limit=3",
                             "--batch_size=4", f"--output_path={out}", "--log_samples",
                             "--seed=0", f"--max_length={MAX_LENGTH}"]) == 0
    results = glob.glob(str(out / "*" / "results_*.json"))
    assert len(results) == 1
    with open(results[0]) as f:
        record = json.load(f)
    assert set(record["results"]) == {"t_mc", "t_gen"} and "acc" in str(record["results"])
    from launch import run_report  # the demo's report shows these scores

    page = run_report.lm_eval_section(str(out), None)
    acc = record["results"]["t_mc"]["acc,none"]
    assert "t_mc" in page and f"{acc:.4g}" in page and results[0] in page
    for task in ("t_mc", "t_gen"):
        samples = glob.glob(str(out / "*" / f"samples_{task}_*.jsonl"))
        assert len(samples) == 1
        with open(samples[0]) as f:
            assert len(f.readlines()) == 3


def _damaged_copy(run, tmp_path):
    """The run with a flipped byte in an array file of every checkpoint (none verifies)."""
    from tests.test_faults import flip_bytes

    copy = str(tmp_path / "damaged")
    shutil.copytree(run, copy)
    for step_dir in glob.glob(os.path.join(copy, "checkpoint_*")):
        flip_bytes(step_dir)
    return copy


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing", "damaged", "unknown_task", "no_vocabulary"])
def test_bad_input_exits_2_with_a_clear_message(setup, tmp_path, capsys, case):
    checkpoint, vocabulary, task = setup["run"], setup["vocabulary"], "t_mc"
    expected = {"missing": "does not exist", "damaged": "damaged",
                "unknown_task": "nonexistent_task", "no_vocabulary": "--vocabulary"}[case]
    if case == "missing":
        checkpoint = str(tmp_path / "nowhere")
    elif case == "damaged":
        checkpoint = _damaged_copy(setup["run"], tmp_path)
    elif case == "unknown_task":
        task = "nonexistent_task"
    else:
        vocabulary = str(tmp_path / "spm.model")
    out = tmp_path / "out"
    code = lm_eval_cli.main([f"--checkpoint={checkpoint}", f"--vocabulary={vocabulary}",
                             f"--tasks={task}", f"--include_path={setup['tasks_dir']}",
                             f"--output_path={out}"])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err and "Traceback" not in err, err[-2000:]
    assert not glob.glob(str(out / "*" / "results_*.json"))
