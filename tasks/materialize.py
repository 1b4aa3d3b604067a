"""Materialises a Mixture's training stream: packed rows, globally shuffled, token-weighted.

    python -m tasks.materialize --spec tasks/specs/palm_demo.yaml --sequence_length 2048 \
        --batch_size 512 (--token_budget 780e9 | --steps 255000) --seed 0 --output_dir DIR \
        [--data_dir D] [--vocabulary V] [--cache_dir C] [--num_shards N] [Beam pipeline options]
    python -m tasks.materialize --mixture NAME --module my.tasks ...   # any registered Mixture

PaLM's data contract (Sec. 5): the shuffled data is written out in a random-access format, so a
training batch is a function of the step alone. The Beam job (any runner, by Beam's options):

1. quotas: source s of token weight w_s gets w_s x budget tokens; a source holding T_s tokens is
   read e_s = quota / T_s times -- floor(e_s) whole epochs plus a partial one (recorded);
2. read and spill: every document of every Task's train split, whole, EOS-terminated (seqio
   cache when the Task is cached), is appended to its read unit's spill file (flat int32,
   random access by token offset); only a reference (task, key, unit, offset, length) goes on;
3. partial epoch, token-exact: documents are ranked by a seeded hash into 65,536 buckets; a
   per-source histogram of tokens per bucket finds the bucket where the partial epoch's tokens
   run out, and documents in that bucket are cut to the fraction still needed;
4. pack, by reference: every document copy gets a seeded 64-bit key; copy references go to
   packing groups by key, each group lays its copies end to end in key order and cuts them
   into rows of sequence_length (PaLM: documents joined by EOS and split; a group's last
   partial row is dropped, counted): a row is a few segments (unit, offset, length, source);
5. global shuffle, of references: each row gets a seeded uniform key; shard = floor(key x
   shards) and rows are sorted by key inside their shard, so shard-order concatenation is all
   rows sorted by a random key -- a uniform permutation of the whole stream;
6. gather and write: each shard reads its rows' tokens from the spill files by random access
   (as Grain reads by index), one ArrayRecord file per shard (group_size:1), then
   manifest.json: rows, tokens, share and epochs per source, seed, spec/vocabulary/cache
   fingerprints, and the bytes that crossed a shuffle (`shuffle_volume`).

Tokens never cross a shuffle: memory is bounded by the references (about 20 bytes per
document copy and per row segment), not by the rows. The stream is byte-identical to the one
the earlier row-shuffling job wrote (same keys, groups and order).

The output directory appears only when the job has succeeded (written under a staging name and
renamed); bad input (unknown mixture, budget under one batch, a source with no tokens, unknown
flags) is an error with exit status 2 and writes nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Sequence

import apache_beam as beam
import numpy as np

from pipeline import console, disk_space, file_checksums, output_lease, progress, shuffle_meter
from pipeline.beam_counters import collect_counters
from tasks import stream_format
from tasks.row_references import SEGMENT, SPILL_DIR, SpillReader, pack_segments, spill_path
from tasks.stream_format import StreamError  # noqa: F401  (re-exported)
from tasks.stream_plan import (  # noqa: F401  (the plan's names, re-exported)
    MaterializeError,
    SourcePlan,
    _bucket,
    _copies,
    _copy_lengths,
    _copy_refs,
    hash64,
    partial_cut,
    plan_sources,
)

log = logging.getLogger("tasks.materialize")
HASH_BUCKETS = 1 << 16
STATS_DIR = "_shard_stats"
PROGRESS_ORDER = ("documents read", "rows packed", "rows written")


# ---------------------------------------------------------------------------------------------
# Beam steps

def _registered(spec: str | None, module: str | None, data_dir: str | None,
                vocabulary: str | None, cache_dirs: Sequence[str], sequence_length: int) -> None:
    """Registers the Tasks in this process (driver or Beam worker)."""
    import seqio

    import tasks

    quiet_seqio_info()
    if cache_dirs:
        seqio.add_global_cache_dirs(list(cache_dirs))
    if module:
        importlib.import_module(module)
    if spec:
        tasks.register_mixture(spec, data_dir=data_dir, vocabulary=vocabulary,
                               sequence_length=sequence_length)


class _SpillDocuments(beam.DoFn):
    """A read unit (task, shard, num_shards, cached): its documents' EOS-terminated tokens are
    appended to the unit's spill file (flat little-endian int32, random access by offset);
    yields one small reference per document: (task, document key, unit, offset, tokens)."""

    def __init__(self, registration: dict, staging: str):
        self.registration, self.staging = registration, staging
        self.progress_dir = progress.current_dir()

    def setup(self):
        _registered(**self.registration)
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, element):
        import seqio
        import tensorflow as tf

        unit, (task_name, shard, num_shards, use_cached) = element
        task = seqio.get_mixture_or_task(task_name)
        ds = task.get_dataset(None, split="train", shuffle=False, num_epochs=1,
                              use_cached=use_cached, try_in_mem_cache=False,
                              shard_info=seqio.ShardInfo(shard, num_shards))
        ds = ds.map(lambda ex: ex["targets"], num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
        offset, refs = 0, []
        # Written whole, again, by a retried bundle: the file's content depends on the unit only.
        with tf.io.gfile.GFile(spill_path(self.staging, unit), "wb") as f:
            for position, tokens in enumerate(ds.as_numpy_iterator()):
                if not len(tokens):
                    continue
                f.write(np.asarray(tokens, stream_format.TOKEN_DTYPE).tobytes())
                refs.append((task_name, f"{shard}/{num_shards}:{position}", unit, offset,
                             len(tokens)))
                offset += len(tokens)
                self.ticker.tick("documents read")
        beam.metrics.Metrics.counter("materialize", "tokens_read").inc(offset)
        yield from refs


def quiet_seqio_info() -> None:
    """seqio logs "Using cache directory ..." at INFO through absl each time a Task's cache_dir
    is looked up (dozens of times per job): the absl logger is lowered to WARNING, so seqio's
    warnings still show."""
    logging.getLogger("absl").setLevel(logging.WARNING)


class _TokenHistogram(beam.CombineFn):
    """Tokens per hash bucket, one numpy array per source."""

    def create_accumulator(self):
        return np.zeros(HASH_BUCKETS, np.int64)

    def add_input(self, acc, element):
        bucket, tokens = element
        acc[bucket] += tokens
        return acc

    def merge_accumulators(self, accumulators):
        return np.sum(list(accumulators), axis=0)

    def extract_output(self, acc):
        return acc


class _PackRows(beam.DoFn):
    """A packing group's copy references -> its rows as segment lists, each sent to a shard by a
    seeded uniform key (the global shuffle, of references: no token crosses it)."""

    def __init__(self, sequence_length: int, num_shards: int, seed: int):
        self.length, self.num_shards, self.seed = sequence_length, num_shards, seed
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, element):
        group, copies = element
        rows, dropped = pack_segments(list(copies), self.length)
        beam.metrics.Metrics.counter("materialize", "tail_tokens_dropped").inc(dropped)
        for j, segments in enumerate(rows):
            key = hash64(self.seed, "row", group, j)
            shard = (key * self.num_shards) >> 64
            self.ticker.tick("rows packed")
            yield shard, (key, segments.tobytes())


class _WriteShard(beam.DoFn):
    """One shard's row references sorted by key; each row gathered from the spill files by
    random access and written to the shard's ArrayRecord file; yields the shard's stats."""

    def __init__(self, staging: str, num_shards: int, sequence_length: int, num_sources: int,
                 eos_id: int):
        self.staging, self.num_shards = staging, num_shards
        self.length, self.num_sources, self.eos_id = sequence_length, num_sources, eos_id
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, element):
        import tensorflow as tf
        from array_record.python.array_record_module import ArrayRecordWriter

        shard, rows = element
        rows = sorted(rows, key=lambda r: r[0])
        name = stream_format.shard_name(shard, self.num_shards)
        tokens_per_source = np.zeros(self.num_sources, np.int64)
        spill = SpillReader(self.staging)
        with tempfile.TemporaryDirectory() as tmp:
            local = os.path.join(tmp, name)
            writer = ArrayRecordWriter(local, stream_format.WRITER_OPTIONS)
            try:
                for _, raw in rows:
                    segments = np.frombuffer(raw, SEGMENT)
                    tokens, sources = spill.row(segments, self.eos_id)
                    writer.write(stream_format.encode_row(tokens, sources))
                    np.add.at(tokens_per_source, segments["source"],
                              segments["length"].astype(np.int64))
                    self.ticker.tick("rows written")
            finally:
                writer.close()
                spill.close()
            size, crc = file_checksums.crc32c_of(local)
            tf.io.gfile.copy(local, os.path.join(self.staging, name), overwrite=True)
        stats = {"shard": shard, "file": name, "rows": len(rows), "bytes": size, "crc32c": crc,
                 "tokens_per_source": tokens_per_source.tolist()}
        with tf.io.gfile.GFile(os.path.join(self.staging, STATS_DIR, f"{shard:05d}.json"),
                               "w") as f:
            json.dump(stats, f)
        beam.metrics.Metrics.counter("materialize", "rows_written").inc(len(rows))
        yield stats


# ---------------------------------------------------------------------------------------------
# Driver

def _beam_options(beam_args: Sequence[str]):
    """Beam's options; any flag Beam does not know is an error (not silently dropped)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.beam_options import pipeline_options

    known = PipelineOptions(list(beam_args)).get_all_options()
    everything = PipelineOptions(list(beam_args)).get_all_options(retain_unknown_options=True)
    unknown = sorted(set(everything) - set(known))
    if unknown:
        raise MaterializeError(f"unknown flag(s) {['--' + u for u in unknown]}: neither this "
                               f"job's flags nor Beam pipeline options (see --help)")
    return pipeline_options(beam_args)


def resolve_mixture(name: str | None, registration: dict) -> tuple[str, dict[str, float]]:
    """(name, token weight per task) of the registered Mixture or Task to materialise."""
    import seqio

    import tasks

    _registered(**registration)
    if name is None and registration["spec"]:
        name = tasks.load_mixture_spec(registration["spec"]).name
    registered = sorted(set(seqio.MixtureRegistry.names()))
    if name not in registered and name not in seqio.TaskRegistry.names():
        raise MaterializeError(f"unknown mixture or task {name!r}; registered mixtures: "
                               f"{registered} (register it with --spec or --module)")
    provider = seqio.get_mixture_or_task(name)
    if hasattr(provider, "token_weights"):
        return name, dict(provider.token_weights)
    if isinstance(provider, seqio.Mixture):
        log.warning("%s is a plain seqio Mixture: its rates are taken as token weights", name)
        return name, {t.name: float(provider.get_rate(t)) for t in provider.tasks}
    return name, {name: 1.0}


def _token_counts(weights: dict[str, float], registration: dict) -> dict[str, int]:
    """Train tokens (EOS included) per task: the recorded histograms of spec-registered tasks
    (counted once), else counted now."""
    import seqio

    import tasks
    from tasks.token_stats import LengthHistogram, count_document_lengths

    out = {}
    for task in weights:
        spec = tasks.registered_spec(task)
        provider = seqio.get_mixture_or_task(spec.name) if spec else None
        if provider is not None and hasattr(provider, "histogram"):
            out[task] = provider.histogram(task).tokens
        else:
            out[task] = LengthHistogram.of(count_document_lengths(task)).tokens
    return out


def _read_units(tasks_: Sequence[str]) -> list[tuple[str, int, int, bool]]:
    """(task, shard, shards, cached) reading units: one per cache file or source file."""
    import seqio
    import tensorflow as tf

    units = []
    for name in tasks_:
        task = seqio.get_mixture_or_task(name)
        cached = bool(task.cache_dir) and tf.io.gfile.exists(
            os.path.join(task.cache_dir, "stats.train.json"))
        if cached:
            files = len(tf.io.gfile.glob(os.path.join(task.cache_dir, "train.tfrecord-*")))
        else:
            files = len(task.source.list_shards("train"))
        shards = max(1, files)
        units += [(name, i, shards, cached) for i in range(shards)]
    return units


def _fingerprints(registration: dict, tasks_: Sequence[str]) -> dict:
    import seqio
    import tensorflow as tf

    def sha(path: str | None) -> str | None:
        if not path or not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    out: dict = {"spec_sha256": sha(registration["spec"]), "cache": {}}
    for name in tasks_:
        task = seqio.get_mixture_or_task(name)
        vocabulary = task.output_features["targets"].vocabulary
        out.setdefault("vocabulary", getattr(vocabulary, "sentencepiece_model_file", None) or
                       type(vocabulary).__name__)
        if task.cache_dir:
            out["cache"][name] = {"dir": task.cache_dir,
                                  "stats_train_sha256": sha(os.path.join(task.cache_dir,
                                                                         "stats.train.json"))}
    out["vocabulary_sha256"] = sha(out.get("vocabulary"))
    return out


def _build(pipe, units, registration, staging, plan_by_task, seed, groups, num_shards, length,
           eos_id) -> None:
    """The Beam graph. Four shuffles, of references only: read units (a few), per-document
    (bucket, length) pairs into the histogram, copy references into packing groups, row
    segment lists into shards. Tokens go from the read units to spill files and from there,
    by random access, to the shards."""
    units_in = pipe | "Units" >> beam.Create(units)
    refs = (shuffle_meter.metered(units_in, "units")
            | "Spread" >> beam.Reshuffle()
            | "Spill" >> beam.ParDo(_SpillDocuments(registration, staging)))
    buckets = refs | "Bucket" >> beam.Map(lambda r: (r[0], (_bucket(seed, r[0], r[1]), r[4])))
    cuts = (shuffle_meter.metered(buckets, "histogram")
            | "Histogram" >> beam.CombinePerKey(_TokenHistogram())
            | "Cut" >> beam.Map(lambda kv: (kv[0], partial_cut(
                kv[1], plan_by_task[kv[0]].partial_tokens))))
    copies = (refs
              | "Copies" >> beam.FlatMap(_copy_refs, plan_by_task, beam.pvalue.AsDict(cuts),
                                         seed)
              | "ToGroup" >> beam.Map(lambda c: (c[0] % groups, c)))
    rows = (shuffle_meter.metered(copies, "copies")
            | "GroupCopies" >> beam.GroupByKey()
            | "Pack" >> beam.ParDo(_PackRows(length, num_shards, seed)))
    _ = (shuffle_meter.metered(rows, "rows")
         | "GroupRows" >> beam.GroupByKey()
         | "Write" >> beam.ParDo(_WriteShard(staging, num_shards, length, len(plan_by_task),
                                             eos_id)))


def run(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        prog="python -m tasks.materialize", description=__doc__.split("\n\n")[0],
        epilog="Any other flag must be a Beam pipeline option (--runner, --direct_num_workers, "
               "...); unknown flags are an error.")
    parser.add_argument("--spec", default=None, help="mixture spec to register (YAML)")
    parser.add_argument("--mixture", default=None,
                        help="registered Mixture or Task name (default: the spec's)")
    parser.add_argument("--module", default=None, help="module whose import registers it")
    parser.add_argument("--data_dir", default=None, help="overrides the spec's data_dir")
    parser.add_argument("--vocabulary", default=None, help="overrides the spec's vocabulary")
    parser.add_argument("--cache_dir", action="append", default=[],
                        help="seqio cache directory (read instead of tokenizing); repeatable")
    parser.add_argument("--sequence_length", type=int, required=True)
    parser.add_argument("--batch_size", type=int, required=True,
                        help="the run's global batch size (rows per step)")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--token_budget", type=float, help="training tokens, e.g. 780e9")
    budget.add_argument("--steps", type=int, help="training steps (budget = steps x batch)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--num_shards", type=int, default=None,
                        help="ArrayRecord files (default: one per ~64k rows)")
    parser.add_argument("--tokens_per_pack_group", type=int, default=1 << 26,
                        help="tokens packed together on one worker (memory bound of a worker)")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--progress_seconds", type=float, default=10.0,
                        help="log documents read, rows packed and rows written, and per "
                             "second, this often while the Beam job runs (0: off)")
    known, beam_args = parser.parse_known_args(argv)
    options = _beam_options(beam_args)

    length, batch = known.sequence_length, known.batch_size
    if length < 2 or batch < 1:
        raise MaterializeError(f"--sequence_length must be >= 2 and --batch_size >= 1, got "
                               f"{length} and {batch}")
    budget_tokens = (known.steps * batch * length if known.steps is not None
                     else known.token_budget)
    if budget_tokens < batch * length:
        raise MaterializeError(f"token budget {budget_tokens:,.0f} is smaller than one batch "
                               f"({batch} rows x {length} tokens = {batch * length:,})")
    if not (known.spec or known.module or known.mixture):
        raise MaterializeError("name what to materialise: --spec, or --mixture (with --module)")
    if known.spec and not os.path.exists(known.spec):
        raise MaterializeError(f"mixture spec not found: {known.spec!r}")
    if tf_exists(known.output_dir) and not known.overwrite:
        raise MaterializeError(f"{known.output_dir!r} exists (pass --overwrite to replace it)")
    registration = {"spec": os.path.abspath(known.spec) if known.spec else None,
                    "module": known.module,
                    "data_dir": os.path.abspath(known.data_dir) if known.data_dir else None,
                    "vocabulary": (os.path.abspath(known.vocabulary) if known.vocabulary
                                   else None),
                    "cache_dirs": [os.path.abspath(c) for c in known.cache_dir],
                    "sequence_length": length}
    started = time.time()
    log.info("phase 1/4: plan (token counts per source)")
    name, weights = resolve_mixture(known.mixture, registration)
    tokens = _token_counts(weights, registration)
    budget_rows = math.ceil(budget_tokens / length)
    groups = max(1, math.ceil(budget_tokens / known.tokens_per_pack_group))
    # Every packing group drops its last partial row: quotas cover that, so the stream holds at
    # least the budget.
    stream_tokens = budget_tokens + groups * length
    plans = plan_sources(weights, tokens, stream_tokens)
    if len(plans) > stream_format.MAX_SOURCES:
        raise MaterializeError(f"{len(plans)} sources: at most {stream_format.MAX_SOURCES}")
    num_shards = known.num_shards or max(1, math.ceil(budget_rows / 65536))
    for p in plans:
        log.info("%-32s weight %.4f  %14s tokens available  quota %14s  epochs %.3f", p.task,
                 p.weight, f"{p.tokens_available:,}", f"{p.quota:,.0f}", p.epochs)

    import seqio
    import tensorflow as tf

    eos_id = seqio.get_mixture_or_task(plans[0].task).output_features["targets"].vocabulary.eos_id
    staging = known.output_dir.rstrip("/") + f".staging-{os.getpid()}"
    tf.io.gfile.makedirs(os.path.join(staging, STATS_DIR))
    tf.io.gfile.makedirs(os.path.join(staging, SPILL_DIR))
    runner = options.get_all_options().get("runner") or "DirectRunner"
    try:
        plan_by_task = {p.task: p for p in plans}
        units = list(enumerate(_read_units(list(plan_by_task))))
        log.info("phase 2/4 (Beam): read %d unit(s) into spill files, references to the "
                 "permutation, rows gathered by reference into %d shard(s)", len(units),
                 num_shards)
        with progress.ProgressMonitor("materialize", runner, PROGRESS_ORDER,
                                      known.progress_seconds):
            pipe = beam.Pipeline(options=options)
            _build(pipe, units, registration, staging, plan_by_task, known.seed, groups,
                   num_shards, length, eos_id)
            result = pipe.run()
            result.wait_until_finish()
        counters = collect_counters(result)
        input_bytes = counters.get("materialize", {}).get("tokens_read", 0) * \
            stream_format.TOKEN_DTYPE.itemsize
        shuffle = shuffle_meter.summary(counters, input_bytes)
        shuffle["input_bytes"] = input_bytes
        log.info("phase 3/4: manifest (%s)", shuffle_meter.describe(shuffle))
        tf.io.gfile.rmtree(os.path.join(staging, SPILL_DIR))
        manifest = _manifest(staging, known, name, plans, registration, budget_tokens,
                             budget_rows, groups, eos_id, started, shuffle)
        log.info("phase 4/4: publishing %s", known.output_dir)
        if tf_exists(known.output_dir):
            tf.io.gfile.rmtree(known.output_dir)
        tf.io.gfile.rename(staging, known.output_dir)
    except BaseException:
        if tf.io.gfile.exists(staging):
            tf.io.gfile.rmtree(staging)
        raise
    log.info("wrote %s: %d rows x %d tokens in %d shards (%.1f s); token shares %s",
             known.output_dir, manifest["rows"], length, len(manifest["shards"]),
             time.time() - started,
             {s["task"]: round(s["token_share"], 4) for s in manifest["sources"]})
    return manifest


def tf_exists(path: str) -> bool:
    import tensorflow as tf

    return tf.io.gfile.exists(path)


def _manifest(staging: str, known, name: str, plans: list[SourcePlan], registration: dict,
              budget_tokens: float, budget_rows: int, groups: int, eos_id: int,
              started: float, shuffle: dict) -> dict:
    """Writes manifest.json into `staging` (the one place a stream's manifest is written)."""
    import tensorflow as tf

    shards = []
    for path in sorted(tf.io.gfile.glob(os.path.join(staging, STATS_DIR, "*.json"))):
        with tf.io.gfile.GFile(path, "r") as f:
            shards.append(json.load(f))
    tf.io.gfile.rmtree(os.path.join(staging, STATS_DIR))
    shards.sort(key=lambda s: s["shard"])
    rows = sum(s["rows"] for s in shards)
    if rows < budget_rows:
        raise MaterializeError(f"the stream holds {rows} rows, fewer than the budget's "
                               f"{budget_rows}: the sources hold too few tokens")
    per_source = np.sum([s["tokens_per_source"] for s in shards], axis=0)
    total = int(per_source.sum())
    manifest = {
        "format": stream_format.FORMAT,
        "mixture": name,
        "task_name": f"{name}.stream",
        "sequence_length": known.sequence_length,
        "batch_size": known.batch_size,
        "seed": known.seed,
        "eos_id": int(eos_id),
        "token_budget": budget_tokens,
        "budget_rows": budget_rows,
        "rows": rows,
        "tokens": total,
        "shards": [{"file": s["file"], "rows": s["rows"], "bytes": s["bytes"],
                    "crc32c": s["crc32c"]} for s in shards],
        "sources": [{"task": p.task, "weight": p.weight, "tokens_available": p.tokens_available,
                     "quota_tokens": round(p.quota), "epochs": p.epochs,
                     "tokens": int(per_source[p.index]),
                     "token_share": float(per_source[p.index] / total)} for p in plans],
        "packing": {"groups": groups, "tokens_per_pack_group": known.tokens_per_pack_group,
                    "row": "documents joined (each ends in EOS) and split to sequence_length"},
        "shuffle": "global: rows sorted by a seeded uniform 64-bit key (range-partitioned)",
        "shuffle_volume": shuffle,
        "gather": "row references shuffled; tokens read from per-read-unit spill files",
        "record": (f"{known.sequence_length} little-endian int32 tokens, then "
                   f"{known.sequence_length} uint8 source indices (order of 'sources')"),
        "registration": {k: v for k, v in registration.items() if k != "sequence_length"},
        "fingerprints": _fingerprints(registration, [p.task for p in plans]),
        "seconds": round(time.time() - started, 1),
        "output_dir": os.path.abspath(known.output_dir),
    }
    with tf.io.gfile.GFile(os.path.join(staging, stream_format.MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    return manifest


def format_summary(manifest: dict, output_dir: str) -> str:
    """The per-source table printed at the end of the job."""
    lines = [f"{'source':<32} {'weight':>8} {'share':>8} {'tokens':>14} {'epochs':>8}"]
    for s in manifest["sources"]:
        lines.append(f"{s['task']:<32} {s['weight']:>8.4f} {s['token_share']:>8.4f} "
                     f"{s['tokens']:>14,} {s['epochs']:>8.3f}")
    lines.append(f"{manifest['rows']:,} rows x {manifest['sequence_length']} tokens "
                 f"({manifest['tokens']:,} tokens; budget {manifest['budget_rows']:,} rows) in "
                 f"{len(manifest['shards'])} ArrayRecord shard(s), seed {manifest['seed']}, "
                 f"{manifest['seconds']} s -> {output_dir}")
    if manifest.get("shuffle_volume"):
        lines.append("shuffle: " + shuffle_meter.describe(manifest["shuffle_volume"]) +
                     " -- references only; input = the int32 tokens read")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    console.log_to_console("%(levelname)s %(name)s: %(message)s", logging.INFO)
    logging.getLogger("apache_beam").setLevel(logging.WARNING)
    quiet_seqio_info()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from pipeline.mixture_spec import MixtureSpecError
    from tasks.mixture_rates import MixtureRateError

    try:  # the stream folder is replaced whole by a rename: its lease lives beside it
        with output_lease.hold_flag(argv, "--output_dir", "materialise job", beside=True), \
                disk_space.quiet_tracebacks():
            manifest = run(argv)
    except (StreamError, MixtureSpecError, MixtureRateError, output_lease.LeaseHeld) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        if not disk_space.no_space(e):
            raise
        return disk_space.exit_status(e, "the training stream",
                                      output_lease.flag_value(argv, "--output_dir"))
    print(format_summary(manifest, manifest["output_dir"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
