"""How exact the Hugging Face export is, on the demo's trained model and its vocabulary.

    make demo                                          # or: python -m launch.demo
    python benchmarks/export_exactness.py --demo_dir demo_out

Exports the demo run (launch.export_hf, float32), loads it with transformers
(AutoModelForCausalLM, AutoTokenizer with trust_remote_code) and records:

  * logits: max and mean |logit difference| against PalmModel.apply, float32, on sequences of the
    demo's validation text; the greedy continuations of prompts, compared token for token with
    model/decoding.py; and, to show that the comparison catches mistakes, the same difference
    with each part of the mapping broken (no RoPE row permutation, layer_norm_eps 1e-5, no logit
    scale);
  * tokenizer: on paragraphs of the demo's clean validation text in every source (and on whole
    documents), how many texts the exported tokenizer class and the fast tokenizer.json encode to
    SentencePiece's ids and decode back to SentencePiece's text, with examples of disagreement.

Writes benchmarks/results/export_exactness.json (date, machine, load average inside). Needs the
test dependencies (requirements-test.txt: torch, transformers).
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import pathlib
import platform
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from launch import export_hf  # noqa: E402
from launch.hf import checkpoint_source, cohere  # noqa: E402
from model import decoding  # noqa: E402
from model.network import PalmModel  # noqa: E402


def _texts(prep_dir: str, limit: int) -> tuple[list[str], list[str]]:
    """(paragraphs, whole documents) of every source's validation split, round robin."""
    import tensorflow as tf
    per_source = []
    for folder in sorted(glob.glob(os.path.join(prep_dir, "*", ""))):
        files = sorted(glob.glob(os.path.join(folder, "validation-*.tfrecord")))
        if not files:
            continue
        docs = []
        for record in tf.data.TFRecordDataset(files).take(400):
            example = tf.train.Example.FromString(record.numpy())
            docs.append(example.features.feature["text"].bytes_list.value[0].decode())
        per_source.append(docs)
    documents = [d for group in zip(*per_source) for d in group] if per_source else []
    paragraphs = [p for d in documents for p in d.split("\n\n") if p.strip()]
    return paragraphs[:limit], documents[:limit // 10]


def _params(source) -> dict:
    reader = checkpoint_source.ArrayReader(source.checkpoint_dir)
    params: dict = {}
    for path in reader.shapes:
        node = params
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = reader.read(path)
    return params


def _logit_checks(folder, config, params, sequences, prompts, torch, transformers) -> dict:
    def load(**overrides):
        model = transformers.AutoModelForCausalLM.from_pretrained(
            folder, local_files_only=True, dtype=torch.float32, **overrides)
        return model.eval()

    def max_diff(model) -> tuple[float, float]:
        worst, total, count = 0.0, 0.0, 0
        for tokens in sequences:
            ours = np.asarray(PalmModel(config).apply({"params": params},
                                                      jnp.asarray(tokens[None])))[0]
            with torch.no_grad():
                theirs = model(torch.tensor(tokens[None])).logits.numpy()[0]
            diff = np.abs(ours - theirs)
            worst, total, count = max(worst, float(diff.max())), total + diff.sum(), \
                count + diff.size
        return worst, total / count

    model = load()
    worst, mean = max_diff(model)
    max_logit = max(float(np.abs(np.asarray(PalmModel(config).apply(
        {"params": params}, jnp.asarray(t[None])))).max()) for t in sequences)
    greedy_same = 0
    for prompt in prompts:
        out = decoding.generate(params, config, jnp.asarray(prompt[None]), max_new_tokens=32,
                                rng=jax.random.PRNGKey(0), temperature=0.0)
        ours = np.asarray(out.tokens[0, :int(out.num_tokens[0])]).tolist()
        with torch.no_grad():
            theirs = model.generate(torch.tensor(prompt[None]), max_new_tokens=32,
                                    do_sample=False)[0, len(prompt):].tolist()
        greedy_same += ours == theirs[:len(ours)] and len(theirs) >= len(ours)
    broken = {}
    broken["layer_norm_eps_1e-5"] = max_diff(load(layer_norm_eps=1e-5))[0]
    broken["no_logit_scale"] = max_diff(load(logit_scale=1.0))[0]
    unpermuted = load()
    order = np.argsort(cohere._pair_order(config.head_dim))  # undo the export's permutation
    with torch.no_grad():
        for layer in unpermuted.model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj):
                weight = proj.weight.numpy()
                proj.weight.copy_(torch.tensor(cohere._permute_rows(weight, config.head_dim,
                                                                    order)))
    broken["no_rope_permutation"] = max_diff(unpermuted)[0]
    return {"sequences": len(sequences), "sequence_length": len(sequences[0]),
            "max_abs_logit_diff": worst, "mean_abs_logit_diff": float(mean),
            "max_abs_logit": max_logit, "greedy_prompts": len(prompts),
            "greedy_identical": greedy_same, "greedy_new_tokens": 32,
            "max_abs_logit_diff_when_broken": broken}


def _tokenizer_checks(folder, sp, texts, transformers) -> dict:
    import tokenizers
    slow = transformers.AutoTokenizer.from_pretrained(folder, trust_remote_code=True,
                                                      local_files_only=True)
    fast = tokenizers.Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    counts = {"slow_ids_equal": 0, "slow_decode_equal": 0, "fast_ids_equal": 0,
              "fast_decode_equal": 0}
    examples = []
    start = time.perf_counter()
    for text in texts:
        ids = sp.encode(text)
        counts["slow_ids_equal"] += slow(text)["input_ids"] == ids
        counts["slow_decode_equal"] += slow.decode(ids) == sp.decode(ids)
        fast_ids = fast.encode(text, add_special_tokens=False).ids
        counts["fast_ids_equal"] += fast_ids == ids
        counts["fast_decode_equal"] += fast.decode(ids, skip_special_tokens=False) == \
            sp.decode(ids)
        if fast_ids != ids and len(examples) < 5:
            first = next(i for i, (a, b) in enumerate(zip(fast_ids + [-1], ids + [-1]))
                         if a != b)
            examples.append({"text_around": sp.decode(ids[max(0, first - 3):first + 4]),
                             "sentencepiece": [sp.id_to_piece(i) for i in
                                               ids[max(0, first - 3):first + 4]],
                             "fast": [sp.id_to_piece(i) if i < sp.get_piece_size() else str(i)
                                      for i in fast_ids[max(0, first - 3):first + 4]]})
    return {"texts": len(texts), **counts, "fast_disagreement_examples": examples,
            "seconds": round(time.perf_counter() - start, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demo_dir", default="demo_out")
    parser.add_argument("--texts", type=int, default=3000)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" /
                                                "export_exactness.json"))
    args = parser.parse_args(argv)
    import sentencepiece
    import torch
    import transformers

    run_dir = os.path.join(args.demo_dir, "runs", "tiny")
    vocabulary = os.path.join(args.demo_dir, "tokenizer", "spm.model")
    sp = sentencepiece.SentencePieceProcessor(model_file=vocabulary)
    paragraphs, documents = _texts(os.path.join(args.demo_dir, "prep"), args.texts)
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "hf")
        start = time.perf_counter()
        assert export_hf.main([f"--checkpoint={run_dir}", f"--vocabulary={vocabulary}",
                               f"--output_dir={folder}"]) == 0
        export_seconds = time.perf_counter() - start
        source = checkpoint_source.locate(run_dir, None)
        config, _ = checkpoint_source.read_config(source, None)
        import dataclasses
        config = dataclasses.replace(config, dtype="float32")
        params = _params(source)
        length = 128
        encoded = [np.array(sp.encode(d)[:length], np.int32) for d in documents]
        sequences = [t for t in encoded if len(t) == length][:16]
        prompts = [t[:16] for t in sequences[:8]]
        logits = _logit_checks(folder, config, params, sequences, prompts, torch, transformers)
        tokenizer = {"paragraphs": _tokenizer_checks(folder, sp, paragraphs, transformers),
                     "documents": _tokenizer_checks(folder, sp, documents, transformers)}
    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "model": {"run": os.path.abspath(run_dir), "step": source.step,
                  "config": dataclasses.asdict(config), "vocabulary_pieces": sp.get_piece_size()},
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
        "export_seconds": round(export_seconds, 1),
        "logits": logits, "tokenizer": tokenizer,
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as f:
        json.dump(result, f, indent=2, ensure_ascii=False,
                  default=lambda o: o.item() if hasattr(o, "item") else str(o))
    print(json.dumps({"logits": logits, "tokenizer": {k: {m: v[m] for m in v if m != "fast_"
                                                          "disagreement_examples"}
                                                      for k, v in tokenizer.items()}}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
