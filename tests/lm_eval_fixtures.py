"""A tiny trained run, its SentencePiece vocabulary and small lm-eval task YAMLs, for the tests
of launch.lm_eval (and the benchmark). Everything is written here, nothing is downloaded."""

from __future__ import annotations

import json
import os
import random

WORDS = ("the a cat dog sat ran on under mat tree big small red blue and then question answer "
         "yes no Paris France capital of is what river sea old new").split()


def sentences(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))) +
            rng.choice([".", "?", f" {rng.randint(0, 999)}."]) for _ in range(count)]


def train_vocabulary(folder: str, vocab_size: int = 320) -> str:
    """A SentencePiece model with the project's settings (pipeline/train_tokenizer.py)."""
    from pipeline import train_tokenizer

    os.makedirs(folder, exist_ok=True)
    text = os.path.join(folder, "sentences.txt")
    with open(text, "w") as f:
        f.write("\n".join(sentences(0, 3000)) + "\n")
    train_tokenizer.train_sentencepiece(text, folder, vocab_size=vocab_size, num_threads=1,
                                        input_sentence_size=3000, max_sentence_length=4096,
                                        seed=0)
    return os.path.join(folder, "spm.model")


def train_run(model_dir: str, tasks_dir: str, steps: int = 2, layers: int = 1) -> str:
    """launch.train on tests.train_tasks for `steps` steps (palm_tiny cut to `layers` layers,
    vocab 512); checkpoints every 2 steps. Must run from the repository root (relative gin
    paths)."""
    from launch import train as train_cli
    from tests import train_tasks

    train_tasks.write_data(tasks_dir)
    os.environ["PALM_TEST_TASKS_DIR"] = tasks_dir
    train_tasks.register(tasks_dir)
    assert train_cli.main(train_tasks.train_args(
        model_dir, steps, "--gin.utils.SaveCheckpointConfig.period=2",
        f"--gin.PalmConfig.num_layers={layers}")) == 0
    return model_dir


def _jsonl(path: str, rows: list[dict]) -> str:
    with open(path, "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def _yaml(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def write_tasks(folder: str, docs: int = 6) -> list[str]:
    """Four lm-eval tasks over local JSON Lines: multiple choice (also used 1-shot), generation
    with stop strings, rolling perplexity; returns their names."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(1)
    mc = []
    for i, s in enumerate(sentences(2, docs)):
        words = s.split()
        choices = [" ".join(words[-2:]), rng.choice(WORDS), f"{rng.choice(WORDS)} {i}"]
        mc.append({"question": " ".join(words[:-2]) + " ", "choices": choices, "label": 0})
    mc_file = _jsonl(os.path.join(folder, "mc.jsonl"), mc)
    shots = _jsonl(os.path.join(folder, "mc_train.jsonl"), mc[::-1])
    gen_file = _jsonl(os.path.join(folder, "gen.jsonl"),
                      [{"prompt": s[:len(s) // 2], "answer": s[len(s) // 2:]}
                       for s in sentences(3, docs)])
    long_text = " ".join(sentences(4, 12))  # rolls over several windows of 32 tokens
    ppl_file = _jsonl(os.path.join(folder, "ppl.jsonl"),
                      [{"text": t} for t in [long_text, *sentences(5, docs - 1)]])
    _yaml(os.path.join(folder, "t_mc.yaml"), f"""task: t_mc
dataset_path: json
dataset_kwargs:
  data_files:
    train: {shots}
    test: {mc_file}
training_split: train
fewshot_split: train
test_split: test
output_type: multiple_choice
doc_to_text: "Q: {{{{question}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: label
target_delimiter: ""
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
  - metric: acc_norm
    aggregation: mean
    higher_is_better: true
""")
    _yaml(os.path.join(folder, "t_gen.yaml"), f"""task: t_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {gen_file}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["e", "\\n"]
  max_gen_toks: 12
  do_sample: false
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
""")
    _yaml(os.path.join(folder, "t_ppl.yaml"), f"""task: t_ppl
dataset_path: json
dataset_kwargs:
  data_files:
    test: {ppl_file}
test_split: test
output_type: loglikelihood_rolling
doc_to_text: ""
doc_to_target: "{{{{text}}}}"
metric_list:
  - metric: word_perplexity
  - metric: byte_perplexity
  - metric: bits_per_byte
""")
    return ["t_mc", "t_gen", "t_ppl"]
