"""A quiet console: a command prints its own progress, warnings and summary, and none of the
third-party lines a user would have to learn to ignore (pipeline/console.py silences them at
their source).

`console_noise` is the check. Here it runs on an import of every heavy library through the
project's packages and on a local Beam job (its workers start as new processes); the slow
`tests/test_your_own_data.py` runs it on the output of prep, tokenizer, stream, train and eval
as a user runs them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What each line is, and a pattern that finds it in a command's output.
NOISE = {
    "Beam's optional GCP client warning": re.compile(r"apitools not found"),
    "Beam worker start-up INFO": re.compile(r"Logging handler created"),
    "Beam worker's unparsed runner options": re.compile(r"Discarding unparseable args"),
    "Beam's optional BigQuery-storage INFO": re.compile(r"No module named google\.cloud"),
    "TensorFlow's oneDNN banner": re.compile(r"oneDNN custom operations are on"),
    "TensorFlow's CPU-feature banner": re.compile(r"This TensorFlow binary is optimized"),
    "absl's pre-init preamble": re.compile(r"All log messages before absl::InitializeLog"),
    "matplotlib's categorical-units INFO": re.compile(r"Using categorical units"),
    "tf.data's half-read cache warning": re.compile(r"did not fully read the dataset being cached"),
    "JAX's missing-TPU-backend INFO": re.compile(r"libtpu|Unable to initialize backend 'tpu'"),
    "seqio's cache-directory INFO": re.compile(r"Using cache directory"),
    "SentencePiece's spm.vocab format warning": re.compile(r"break the format of"),
}


def console_noise(output: str) -> list[str]:
    """'<what>: <line>' for every noise line in a command's output."""
    return [f"{what}: {line.strip()[:160]}" for line in output.splitlines()
            for what, pattern in NOISE.items() if pattern.search(line)]


def _run(code: str, tmp_path) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    env["PYTHONPATH"] = os.pathsep.join([REPO, env.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_the_check_finds_each_kind_of_line():
    lines = ["WARNING:root:apitools not found, and bigquery client libraries are not available",
             "I0000 00:00:17 port.cc:153] oneDNN custom operations are on. You may see ...",
             "INFO:matplotlib.category:Using categorical units to plot a list of strings",
             "INFO:absl:Using cache directory None for 'palm_demo.books'.",
             "trainer_interface.cc(709) LOG(WARNING) The piece [", "] contains escaped "
             "characters that break the format of spm.vocab",
             "INFO prep: wrote 12 documents"]
    found = console_noise("\n".join(lines))
    assert len(found) == 5 and not any("wrote 12" in f for f in found)


@pytest.mark.slow
def test_the_libraries_and_a_local_beam_job_are_quiet(tmp_path):
    """TensorFlow, JAX, Beam, seqio imported as the commands import them, with logging set up
    as the commands set it up (INFO on the root logger), and a local Beam job, whose workers
    start as new processes that import Beam before any project module."""
    out = _run("import logging; import launch, tasks\n"
               "logging.basicConfig(level=logging.INFO)\n"
               "import tensorflow as tf, jax, apache_beam as beam, seqio\n"
               "from pipeline.beam_options import pipeline_options\n"
               "ds = tf.data.Dataset.range(4).map(lambda x: x + 1)\n"
               "print(sum(int(x) for x in ds), jax.numpy.ones(2).sum())\n"
               "with beam.Pipeline(options=pipeline_options(['--direct_num_workers=2'])) as p:\n"
               "    _ = p | beam.Create(range(10)) | beam.Map(lambda x: x * x)\n"
               "print('beam done')\n", tmp_path)
    assert "10 2.0" in out and "beam done" in out
    assert not console_noise(out), "\n".join(console_noise(out))


EVAL_READ = """
import sys
import seqio, tensorflow as tf
from launch import utils
from launch.inputs import data

vocab = seqio.ByteVocabulary()
seqio.TaskRegistry.add(
    "console_small_eval",
    source=seqio.FunctionDataSource(
        lambda split, shuffle_files, seed=None: tf.data.Dataset.from_tensor_slices(
            {"targets": [f"example {i}" for i in range(5000)]}),
        splits=["validation"], num_input_examples={"validation": 5000}),
    preprocessors=[seqio.preprocessors.tokenize, seqio.preprocessors.append_eos],
    output_features={"targets": seqio.Feature(vocab, add_eos=True)})
config = utils.DatasetConfig(mixture_or_task_name="console_small_eval",
                             task_feature_lengths={"targets": 16}, split="validation",
                             batch_size=8, shuffle=False, seed=0, use_cached=False)
if sys.argv[1] == "eval":  # what evaluation reads: its first batch of a small split
    batches = data.iter_eval_batches(config, "console_small_eval", (0, 1), 8, max_batches=1)
    assert len(list(batches)) == 1
else:  # seqio's default read, half-read the same way: the warning this check is for
    ds = data._dataset(config, "console_small_eval", 0, (0, 1), num_epochs=1, shuffle=False)
    assert len(list(ds.batch(8).take(1))) == 1
"""


@pytest.mark.slow
def test_evaluation_of_a_small_split_does_not_half_read_a_cache(tmp_path):
    """seqio caches a small split in memory; evaluation reads its first batches only, and
    tf.data warned on every evaluation that the cache was left half-read. Evaluation reads
    without that cache (launch/inputs/data.py)."""
    script = tmp_path / "eval_read.py"
    script.write_text(EVAL_READ, encoding="utf-8")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0",
               PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]))
    outputs = {}
    for mode in ("eval", "default"):
        proc = subprocess.run([sys.executable, str(script), mode], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outputs[mode] = proc.stderr
    assert "did not fully read the dataset being cached" in outputs["default"]
    assert "did not fully read the dataset being cached" not in outputs["eval"]
