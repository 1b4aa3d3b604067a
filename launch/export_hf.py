"""Export a checkpoint as a Hugging Face folder that transformers loads with no network.

    python -m launch.export_hf --checkpoint=runs/x --vocabulary=tok/spm.model --output_dir=hf/x \
        [--checkpoint_step=N] [--gin_file=...] [--dtype=float32|bfloat16] [--max_shard_size=2GB]

--checkpoint is a run directory (the newest checkpoint that verifies is exported, or the one of
--checkpoint_step) or a `checkpoint_<step>` folder; its checksums are verified first. The model
config is read from the run's config.gin (or --gin_file). The folder holds config.json
(`CohereForCausalLM`, the same function as this model: launch/hf/cohere.py), sharded safetensors
with their index, generation_config.json, the tokenizer (spm.model, an exact SentencePiece class
for `AutoTokenizer(..., trust_remote_code=True)`, and a fast tokenizer.json for serving engines)
and a model card README.md. Arrays are converted one at a time. The folder appears under its name
only when complete. Exit status 2, with the reason, for a damaged checkpoint or anything Cohere
cannot express.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time

import numpy as np

from launch.hf import checkpoint_source, cohere, model_card, safetensors_shards, tokenizer_files
from launch.run import checkpoints as ckpt_lib
from pipeline import console

log = logging.getLogger("launch")
DEFAULT_CONTEXT = 2048
EXACT_NOTE = (
    "`AutoTokenizer.from_pretrained(folder, trust_remote_code=True)` loads "
    "`tokenization_palm.PalmSentencePieceTokenizer`, which calls SentencePiece itself: its ids and "
    "decoded text are SentencePiece's on every text. `tokenizer.json` is a fast approximation "
    "for serving engines that cannot run that class; it differs on some Viterbi ties and treats "
    "a literal `</s>` in the text as the EOS token (measured: "
    "benchmarks/results/export_exactness.json).")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m launch.export_hf",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True,
                        help="a run directory (MODEL_DIR) or a checkpoint_<step> folder")
    parser.add_argument("--vocabulary", required=True, help="the run's SentencePiece model")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--checkpoint_step", type=int, default=None,
                        help="export this step (default: the newest checkpoint that verifies)")
    parser.add_argument("--gin_file", action="append", default=[],
                        help="model gin file(s), instead of the run's config.gin")
    parser.add_argument("--dtype", default="float32", choices=sorted(safetensors_shards.DTYPES))
    parser.add_argument("--max_shard_size", default="2GB",
                        help="largest safetensors file (default 2GB)")
    parser.add_argument("--max_position_embeddings", type=int, default=None,
                        help="context length in config.json (default: the run's sequence "
                             f"length, else {DEFAULT_CONTEXT})")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing non-empty --output_dir")
    return parser


def check_tree(reader: checkpoint_source.ArrayReader, config) -> None:
    """The checkpoint's parameters must be exactly the ones the mapping converts."""
    wanted = cohere.palm_shapes(config)
    found = reader.shapes
    for path in sorted(set(found) - set(wanted)):
        raise cohere.Unsupported(f"parameter {'/'.join(path)} {found[path]} has no counterpart "
                                 f"in {cohere.ARCHITECTURE} (is the model config right?)")
    for path in sorted(set(wanted) - set(found)):
        raise cohere.Unsupported(f"parameter {'/'.join(path)} is missing from the checkpoint "
                                 "(is the model config right? pass --gin_file)")
    for path, shape in sorted(wanted.items()):
        if tuple(found[path]) != tuple(shape):
            raise cohere.Unsupported(f"parameter {'/'.join(path)} has shape {found[path]}; the "
                                     f"model config gives {shape} (pass the run's --gin_file)")


def write_weights(reader, config, output_dir: str, dtype: np.dtype, max_bytes: int) -> list[str]:
    """Converts and writes every tensor, one source array at a time."""
    writer = safetensors_shards.ShardWriter(output_dir, max_bytes)
    by_path: dict[tuple[str, ...], list[cohere.Entry]] = {}
    for entry in cohere.entries(config):
        by_path.setdefault(entry.palm_path, []).append(entry)
    for path, group in by_path.items():
        array = reader.read(path)
        for entry in group:
            piece = array if entry.layer is None else array[entry.layer]
            writer.add(entry.hf_name, cohere.to_hf(piece, entry, config).astype(dtype))
        del array
    return writer.close()


def export(args: argparse.Namespace) -> str:
    """Writes the folder; returns its path. Raises SourceError/Unsupported/ValueError on bad
    input (exit 2)."""
    dtype = safetensors_shards.DTYPES[args.dtype]
    max_bytes = safetensors_shards.parse_size(args.max_shard_size)
    if not os.path.isfile(args.vocabulary):
        raise FileNotFoundError(f"--vocabulary={args.vocabulary}: no such file")
    out = os.path.abspath(args.output_dir)
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)) and \
            not args.overwrite:
        raise ValueError(f"--output_dir={out} exists and is not empty (pass --overwrite to "
                         "replace it)")
    source = checkpoint_source.locate(args.checkpoint, args.checkpoint_step)
    config, run_facts = checkpoint_source.read_config(source, args.gin_file)
    pieces = len(tokenizer_files.load_proto(args.vocabulary).pieces)
    tokenizer_files.check_ids(args.vocabulary, config.eos_id, config.pad_id, config.vocab_size)
    reader = checkpoint_source.ArrayReader(source.checkpoint_dir)
    check_tree(reader, config)
    lengths = run_facts.get("TASK_FEATURE_LENGTHS")
    context = args.max_position_embeddings or (
        lengths.get("targets") if isinstance(lengths, dict) else None) or DEFAULT_CONTEXT

    start = time.perf_counter()
    partial = out.rstrip("/") + ".incomplete"
    if os.path.exists(partial):
        shutil.rmtree(partial)
    os.makedirs(partial)
    try:
        shards = write_weights(reader, config, partial, dtype, max_bytes)
        hf = cohere.hf_config(config, max_position_embeddings=int(context), dtype=args.dtype)
        generation = {"eos_token_id": config.eos_id, "pad_token_id": config.pad_id,
                      "bos_token_id": None, "do_sample": False}
        if pieces < config.vocab_size:
            # The embedding is padded past the tokenizer (to a multiple of 128): transformers'
            # generate() must never emit those ids, as model/decoding.py never does.
            generation["suppress_tokens"] = list(range(pieces, config.vocab_size))
        for name, content in (("config.json", hf), ("generation_config.json", generation)):
            with open(os.path.join(partial, name), "w") as f:
                json.dump(content, f, indent=2)
        tokenizer_files.write(partial, args.vocabulary, int(context))
        card = model_card.render(
            config, step=source.step, run_facts=run_facts,
            record=ckpt_lib.read_record(source.checkpoint_dir),
            train=model_card.training_facts(source.run_dir, source.step), dtype=args.dtype,
            checkpoint_dir=source.checkpoint_dir, tokenizer_exact_note=EXACT_NOTE)
        with open(os.path.join(partial, "README.md"), "w") as f:
            f.write(card)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if os.path.exists(out):
        shutil.rmtree(out) if os.path.isdir(out) else os.remove(out)
    os.replace(partial, out)
    log.info("exported %s (step %d) to %s: %d safetensors file(s), %s, %.1f s",
             source.checkpoint_dir, source.step, out, len(shards), args.dtype,
             time.perf_counter() - start)
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    console.log_to_console("%(asctime)s %(levelname)s %(message)s", logging.INFO)
    try:
        export(args)
    except (checkpoint_source.SourceError, cohere.Unsupported, FileNotFoundError,
            ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
