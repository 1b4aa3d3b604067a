"""Trains the SentencePiece vocabulary from the prep job's clean outputs, PaLM's way.

    python -m pipeline.train_tokenizer --data_dir PREP_OUT --vocab_size N --output_dir DIR \
        [--mixture_spec SPEC.yaml] [--sample_bytes B] [Beam pipeline options]

Two steps:
1. a Beam job reads every source's train TFRecords and keeps a line (SentencePiece's unit of
   training) when a seeded hash of its document id and line number falls under that source's
   rate -- lines, not documents, so that a source of a few book-sized documents still gets
   its share instead of all or nothing. Rates come from the manifests' byte counts and the
   mixture's weights, so that the sample's bytes follow the weights. Method: capping -- when a
   source holds less than its weight's share of --sample_bytes, the whole sample shrinks until
   that source's whole text is exactly its share (no text is repeated, which would inflate
   SentencePiece's piece counts); the manifest records the method, the limiting source, the
   bytes aimed at and the shares actually reached;
2. the driver trains SentencePiece on the sample, multi-threaded, in one process.

Settings (PaLM, Sec. 5 / Table 2 of the paper): lossless -- no normalisation, whitespace kept
exactly (no dummy prefix, no collapsing, whitespace-only pieces allowed), digits split, byte
fallback for anything out of vocabulary; ids as seqio expects (pad 0, eos 1, unk 2, no bos).

SentencePiece sees one line as one sentence, so documents are trained on line by line and the
newline is a user-defined symbol (always one token, never merged). SentencePiece also writes a
space as U+2581 internally, which would decode a literal U+2581 in the input back as a space;
a reversible escape (normalisation rules U+2581 -> E000 E001 and E000 -> E000 E000, with the
inverse denormalisation rules, both stored in the model) keeps it lossless.

Outputs in --output_dir: spm.model, spm.vocab (piece, a tab and its score per line; a piece's
backslash, tab, newline and carriage return written as in a Python string literal, so that the
newline symbol keeps the one-piece-per-line format that SentencePiece's own file breaks and
warns about), manifest.json (sample, settings, seeds, SHA-256 of the model) and sample/ (the
sampled documents).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from typing import Any, Sequence

import apache_beam as beam

from pipeline import console, disk_space, output_lease, progress, shuffle_meter, writers
from pipeline.beam_flags import FlagError, check_beam_flags
from pipeline.beam_options import pipeline_options
from pipeline.progress import ProgressMonitor

log = logging.getLogger("pipeline.train_tokenizer")

MODEL_PREFIX = "spm"
SAMPLE_DIR = "sample"
ESCAPE, ESCAPED_SPACE_MARK = "\ue000", "\ue001"  # private-use code points used by the escape

# PaLM's settings; the trainer's own names. vocab_size, threads and sizes are set per run.
PALM_SETTINGS: dict[str, Any] = {
    "model_type": "unigram",
    "remove_extra_whitespaces": False,
    "add_dummy_prefix": False,
    "split_digits": True,
    "byte_fallback": True,
    "allow_whitespace_only_pieces": True,
    "split_by_whitespace": True,
    "character_coverage": 0.99995,
    "pad_id": 0, "eos_id": 1, "unk_id": 2, "bos_id": -1,
    "pad_piece": "<pad>", "eos_piece": "</s>", "unk_piece": "<unk>",
    "user_defined_symbols": ["\n"],
    "shuffle_input_sentence": True,
}


class TokenizerError(ValueError):
    pass


def _hex(text: str) -> str:
    return " ".join(f"{ord(c):04X}" for c in text)


def write_escape_rules(folder: str) -> tuple[str, str]:
    """Normalisation rules that escape U+2581 reversibly, and their inverse."""
    norm, denorm = os.path.join(folder, "normalize.tsv"), os.path.join(folder, "denormalize.tsv")
    with open(norm, "w", encoding="utf-8") as f:
        f.write(f"{_hex(chr(0x2581))}\t{_hex(ESCAPE + ESCAPED_SPACE_MARK)}\n")
        f.write(f"{_hex(ESCAPE)}\t{_hex(ESCAPE + ESCAPE)}\n")
    with open(denorm, "w", encoding="utf-8") as f:
        f.write(f"{_hex(ESCAPE + ESCAPE)}\t{_hex(ESCAPE)}\n")
        f.write(f"{_hex(ESCAPE + ESCAPED_SPACE_MARK)}\t{_hex(chr(0x2581))}\n")
    return norm, denorm


# ---------------------------------------------------------------------------------------------
# Sampling plan

def read_manifests(data_dir: str) -> dict[str, dict[str, Any]]:
    """source name -> manifest, for every complete source under the prep output directory."""
    out = {}
    for path in sorted(glob.glob(os.path.join(data_dir, "*", "manifest.json"))):
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
        if manifest.get("complete", True):
            out[os.path.basename(os.path.dirname(path))] = manifest
    if not out:
        raise TokenizerError(f"no prep outputs (*/manifest.json) found in {data_dir!r}")
    return out


def mixture_weights(manifests: dict[str, dict[str, Any]],
                    spec_path: str | None) -> dict[str, float]:
    """Normalised weights per source: from a mixture spec, or equal over the sources present."""
    if spec_path is None:
        weights = {name: 1.0 for name in manifests}
    else:
        from pipeline.mixture_spec import load_mixture_spec

        spec = load_mixture_spec(spec_path)
        weights = {s.name: s.weight for s in spec.sources}
        missing = sorted(set(weights) - set(manifests))
        if missing:
            raise TokenizerError(f"mixture spec {spec_path!r} names source(s) {missing} with no "
                                 f"prep outputs in the data directory")
    total = sum(weights.values())
    return {name: w / total for name, w in sorted(weights.items()) if w > 0}


def capped_sample_bytes(train_bytes: dict[str, int], weights: dict[str, float],
                        sample_bytes: int) -> tuple[float, str | None]:
    """(bytes the sample aims at, the limiting source or None): the requested size, capped so
    that every weighted source holds at least its share (weight x size) of text."""
    limit, limiting = float(sample_bytes), None
    for name, weight in sorted(weights.items()):
        if weight <= 0:
            continue
        available = train_bytes.get(name, 0)
        if available <= 0:
            raise TokenizerError(f"source {name!r} has weight {weight:.4g} but no train text "
                                 f"(bytes_out.train is 0 in its manifest): drop it from the "
                                 f"mixture spec or give it data")
        if available / weight < limit:
            limit, limiting = available / weight, name
    return limit, limiting


def sampling_rates(train_bytes: dict[str, int], weights: dict[str, float],
                   sample_bytes: int) -> dict[str, float]:
    """Per-source keep rates so that the sample's bytes follow the weights (capping method:
    the sample size is first capped by capped_sample_bytes, so no rate exceeds 1)."""
    target, _ = capped_sample_bytes(train_bytes, weights, sample_bytes)
    return {name: min(1.0, weight * target / train_bytes[name])
            for name, weight in weights.items() if weight > 0}


def keep(doc_id: str, rate: float, seed: int) -> bool:
    return rate >= 1.0 or writers.unit_hash(doc_id, f"tokenizer:{seed}") < rate


def sample_lines(doc_id: str, text: str, rate: float, seed: int) -> str | None:
    """The document's non-empty lines kept at `rate` (each by a seeded hash of the document id
    and the line's number), joined by newlines; None when none is kept."""
    if rate >= 1.0:
        return text
    kept = [line for i, line in enumerate(text.split("\n"))
            if line and keep(f"{doc_id}\x00{i}", rate, seed)]
    return "\n".join(kept) if kept else None


# ---------------------------------------------------------------------------------------------
# Beam step

class _SampleFn(beam.DoFn):
    def __init__(self, rates: dict[str, float], seed: int):
        self.rates = rates
        self.seed = seed
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, serialized: bytes):
        self.ticker.tick("read")
        doc = writers.parse_example(serialized)
        rate = self.rates.get(doc["source"])
        if rate is None:
            return
        text = sample_lines(doc["id"], doc["text"], rate, self.seed)
        if text is not None:
            self.ticker.tick("sampled")
            beam.metrics.Metrics.counter("tokenizer_sample", f"{doc['source']}_docs").inc()
            yield json.dumps({"id": doc["id"], "source": doc["source"], "text": text},
                             ensure_ascii=False)


def read_tfrecord(path: str):
    """Records of one shard, read with TensorFlow (Beam's own reader needs a crc32c package)."""
    import tensorflow as tf

    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        yield record


def run_sample(data_dir: str, rates: dict[str, float], seed: int, sample_dir: str,
               beam_args: Sequence[str], progress_seconds: float = 10.0) -> dict[str, Any]:
    """The sampling job (map-only: only shard paths cross its one shuffle); returns its shuffle
    volume (pipeline/shuffle_meter.py) per byte of train shards read."""
    from pipeline.beam_counters import collect_counters

    shards = []
    for name in sorted(rates):
        pattern = os.path.join(data_dir, name, "train-*.tfrecord")
        matched = sorted(glob.glob(pattern))
        if not matched:
            raise TokenizerError(f"no train shards match {pattern!r}")
        shards.extend(matched)
    options = pipeline_options(beam_args)
    runner = options.get_all_options().get("runner") or "DirectRunner"
    with ProgressMonitor("tokenizer sample", runner, ["read", "sampled"], progress_seconds), \
            beam.Pipeline(options=options) as p:
        _ = (
            shuffle_meter.metered(p | "Shards" >> beam.Create(shards), "shards")
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(read_tfrecord)
            | "Sample" >> beam.ParDo(_SampleFn(rates, seed))
            | "Write" >> beam.io.WriteToText(os.path.join(sample_dir, "docs"),
                                             file_name_suffix=".jsonl")
        )
    return shuffle_meter.summary(collect_counters(p.result),
                                 sum(os.path.getsize(path) for path in shards))


def _sample_references(sample_dir: str, seed: int) -> tuple[list[str], list[tuple]]:
    """(files, references): one small reference per sampled document -- (order key, source,
    id, file, byte offset, bytes) -- read line by line, no text kept."""
    files = sorted(glob.glob(os.path.join(sample_dir, "docs*.jsonl")))
    refs = []
    for index, path in enumerate(files):
        with open(path, "rb") as f:
            offset = 0
            for line in f:
                if line.strip():
                    doc = json.loads(line)
                    refs.append((writers.unit_hash(doc["id"], f"order:{seed}"),
                                 sys.intern(doc["source"]), doc["id"], index, offset, len(line)))
                offset += len(line)
    return files, refs


def write_sentences(sample_dir: str, seed: int, out_path: str) -> dict[str, dict[str, int]]:
    """The sampled documents, in a runner-independent order (a seeded hash of the id, then
    source and id), one line of text per line. Streams: the order is computed on references
    and each document is then read back by offset, so memory holds references, never text."""
    files, refs = _sample_references(sample_dir, seed)
    refs.sort(key=lambda r: (r[0], r[1], r[2]))
    stats: dict[str, dict[str, int]] = {}
    handles = [open(path, "rb") for path in files]
    try:
        with open(out_path, "w", encoding="utf-8", newline="\n") as f:
            for _, source, _, index, offset, size in refs:
                handles[index].seek(offset)
                doc = json.loads(handles[index].read(size))
                s = stats.setdefault(source, {"documents": 0, "bytes": 0, "lines": 0})
                s["documents"] += 1
                s["bytes"] += len(doc["text"].encode("utf-8"))
                for line in doc["text"].split("\n"):
                    if line:
                        f.write(line + "\n")
                        s["lines"] += 1
    finally:
        for handle in handles:
            handle.close()
    return dict(sorted(stats.items()))


# ---------------------------------------------------------------------------------------------
# Training

def train_sentencepiece(sentences: str, output_dir: str, *, vocab_size: int, num_threads: int,
                        input_sentence_size: int, max_sentence_length: int,
                        seed: int) -> dict[str, Any]:
    import sentencepiece as spm

    norm, denorm = write_escape_rules(output_dir)
    settings = dict(PALM_SETTINGS, vocab_size=vocab_size, num_threads=num_threads,
                    input_sentence_size=input_sentence_size,
                    max_sentence_length=max_sentence_length)
    spm.set_random_generator_seed(seed)
    with _TrainerStderr():
        spm.SentencePieceTrainer.train(
            input=sentences, model_prefix=os.path.join(output_dir, MODEL_PREFIX),
            normalization_rule_tsv=norm, denormalization_rule_tsv=denorm, minloglevel=1,
            **settings)
    write_vocab(os.path.join(output_dir, f"{MODEL_PREFIX}.model"),
                os.path.join(output_dir, f"{MODEL_PREFIX}.vocab"))
    recorded = dict(settings, normalization="identity, plus a reversible escape of U+2581",
                    user_defined_symbols=[repr(s) for s in settings["user_defined_symbols"]])
    return recorded


# SentencePiece's warning that the newline piece breaks its spm.vocab, which write_vocab rewrites
# escaped: the cause is handled, so the line is dropped; anything else it prints passes through.
_NEWLINE_PIECE_WARNING = re.compile(
    r"[^\n]*LOG\(WARNING\) The piece \[\n\] contains escaped characters that break the "
    r"format of [^\n]*\.vocab\n")


class _TrainerStderr:
    """SentencePiece's C++ trainer writes to file descriptor 2; this captures it while the
    trainer runs and passes on everything but _NEWLINE_PIECE_WARNING."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._capture = tempfile.TemporaryFile()
        os.dup2(self._capture.fileno(), 2)
        return self

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._capture.seek(0)
        text = self._capture.read().decode("utf-8", "replace")
        self._capture.close()
        rest = _NEWLINE_PIECE_WARNING.sub("", text)
        if rest:
            sys.stderr.write(rest)
            sys.stderr.flush()
        return False


def _escape_piece(piece: str) -> str:
    return (piece.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))


def write_vocab(model_path: str, vocab_path: str) -> None:
    """spm.vocab as SentencePiece writes it (piece TAB score), with control characters escaped
    (_escape_piece) so that every piece is on one line."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=model_path)
    with open(vocab_path, "w", encoding="utf-8") as f:
        for i in range(processor.get_piece_size()):
            f.write(f"{_escape_piece(processor.id_to_piece(i))}\t{processor.get_score(i):g}\n")


def sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.train_tokenizer", description=__doc__.split("\n\n")[0],
        epilog="Any other flag is a Beam pipeline option (--runner, --direct_num_workers, ...).",
        allow_abbrev=False)
    parser.add_argument("--data_dir", required=True, help="the prep job's output directory")
    parser.add_argument("--vocab_size", type=int, required=True,
                        help="pieces in the vocabulary (PaLM: 256000)")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--mixture_spec", default=None,
                        help="mixture spec (YAML) whose weights stratify the sample; default: "
                             "equal weights over the sources present")
    parser.add_argument("--sample_bytes", type=int, default=1 << 30,
                        help="target bytes of text in the sample (default 1 GiB)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num_threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--input_sentence_size", type=int, default=20_000_000,
                        help="most lines the trainer loads (a seeded shuffle picks them)")
    parser.add_argument("--max_sentence_length", type=int, default=16384,
                        help="longest line in bytes the trainer uses; longer lines are skipped")
    parser.add_argument("--progress_seconds", type=float, default=10.0,
                        help="log documents read and sampled, and per second, this often while "
                             "the sampling job runs (0: off)")
    known, beam_args = parser.parse_known_args(argv)
    check_beam_flags(beam_args, [o for a in parser._actions for o in a.option_strings],
                     parser.prog)
    if known.vocab_size < 300:
        raise TokenizerError("--vocab_size must be at least 300 (256 byte pieces + specials)")

    started = time.time()
    manifests = read_manifests(known.data_dir)
    weights = mixture_weights(manifests, known.mixture_spec)
    train_bytes = {n: int(m.get("bytes_out", {}).get("train", 0)) for n, m in manifests.items()}
    rates = sampling_rates(train_bytes, weights, known.sample_bytes)
    target_bytes, limiting = capped_sample_bytes(train_bytes, weights, known.sample_bytes)
    if limiting is not None:
        log.warning("source %s has %d bytes, less than its share %.0f of --sample_bytes %d: "
                    "the sample is capped at %.0f bytes so that every source keeps its weight",
                    limiting, train_bytes[limiting], weights[limiting] * known.sample_bytes,
                    known.sample_bytes, target_bytes)

    os.makedirs(known.output_dir, exist_ok=True)
    final_manifest = os.path.join(known.output_dir, "manifest.json")
    if os.path.exists(final_manifest):  # first: a failure from here on leaves no manifest
        os.remove(final_manifest)
    sample_dir = os.path.join(known.output_dir, SAMPLE_DIR)
    shutil.rmtree(sample_dir, ignore_errors=True)  # a previous (possibly failed) run's sample
    shuffle = run_sample(known.data_dir, rates, known.seed, sample_dir, beam_args,
                         known.progress_seconds)
    sentences = os.path.join(sample_dir, "sentences.txt")
    stats = write_sentences(sample_dir, known.seed, sentences)
    if not stats:
        raise TokenizerError("the sample is empty: raise --sample_bytes")
    sample_total = sum(s["bytes"] for s in stats.values())
    sampled_at = time.time()

    settings = train_sentencepiece(
        sentences, known.output_dir, vocab_size=known.vocab_size, num_threads=known.num_threads,
        input_sentence_size=known.input_sentence_size,
        max_sentence_length=known.max_sentence_length, seed=known.seed)
    model_path = os.path.join(known.output_dir, f"{MODEL_PREFIX}.model")
    manifest = {
        "model": f"{MODEL_PREFIX}.model",
        "vocab": f"{MODEL_PREFIX}.vocab",
        "model_sha256": sha256(model_path),
        "vocab_size": known.vocab_size,
        "data_dir": os.path.abspath(known.data_dir),
        "mixture_spec": os.path.abspath(known.mixture_spec) if known.mixture_spec else None,
        "seed": known.seed,
        "sample": {
            "target_bytes": known.sample_bytes,
            "method": "capping",
            "capped_target_bytes": round(target_bytes),
            "limiting_source": limiting,
            "bytes": sample_total,
            "weights": weights,
            "rates": rates,
            "train_bytes_available": {n: train_bytes[n] for n in weights},
            "per_source": stats,
            "share_reached": {n: round(stats.get(n, {}).get("bytes", 0) / sample_total, 6)
                              for n in weights},
        },
        "settings": settings,
        "shuffle_volume": shuffle,
        "beam_options": list(beam_args),
        "sample_seconds": round(sampled_at - started, 2),
        "train_seconds": round(time.time() - sampled_at, 2),
    }
    with open(final_manifest + ".tmp", "w", encoding="utf-8") as f:  # last, whole or not at all
        json.dump(manifest, f, indent=2, sort_keys=True, ensure_ascii=False)
    os.replace(final_manifest + ".tmp", final_manifest)
    log.info("wrote %s (sha256 %s) from a %d-byte sample", model_path, manifest["model_sha256"],
             sample_total)
    print(summary_text(manifest, manifests, known.output_dir))
    return manifest


def summary_text(manifest: dict[str, Any], source_manifests: dict[str, dict[str, Any]],
                 output_dir: str) -> str:
    """What went in, what came out, where: the end-of-job summary on the console."""
    sample = manifest["sample"]
    docs_in = sum(int(m.get("documents_out", {}).get("train", 0))
                  for m in source_manifests.values())
    bytes_in = sum(sample["train_bytes_available"].values())
    per_source = ", ".join(
        f"{name} {s.get('documents', 0):,} docs / {s.get('bytes', 0) / 1e6:.2f} MB "
        f"({100 * sample['share_reached'].get(name, 0):.1f} %)"
        for name, s in sorted(sample["per_source"].items()))
    return "\n".join([
        f"in: {len(source_manifests)} source(s), {docs_in:,} train documents, "
        f"{bytes_in / 1e6:.2f} MB",
        f"sample: {sample['bytes'] / 1e6:.2f} MB in {manifest['sample_seconds']:.1f} s; "
        f"{per_source}",
        f"out: vocabulary of {manifest['vocab_size']:,} pieces trained in "
        f"{manifest['train_seconds']:.1f} s",
        "shuffle: " + shuffle_meter.describe(manifest["shuffle_volume"]),
        f"wrote: {os.path.join(output_dir, manifest['model'])}, "
        f"{os.path.join(output_dir, manifest['vocab'])}, "
        f"{os.path.join(output_dir, 'manifest.json')}"])


def main(argv: Sequence[str] | None = None) -> int:
    console.log_to_console("%(levelname)s %(name)s: %(message)s", logging.INFO)
    # Importing Beam logged a warning, which set up the root logger at WARNING already (and
    # made basicConfig a no-op): without this, progress and other INFO lines never show.
    logging.getLogger().setLevel(logging.INFO)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        with output_lease.hold_flag(argv, "--output_dir", "tokenizer job"), \
                disk_space.quiet_tracebacks():
            run(argv)
    except (TokenizerError, FlagError, output_lease.LeaseHeld) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        if not disk_space.no_space(e):
            raise
        return disk_space.exit_status(e, "the tokenizer's sample and vocabulary",
                                      output_lease.flag_value(argv, "--output_dir"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
