"""Decontamination: remove (or flag) documents that share a word n-gram with an evaluation set.

    decontamination:
      eval_sets: {lambada: evals/lambada.jsonl, triviaqa: evals/triviaqa.jsonl.gz}
      text_field: text        # the field of each JSON line that holds the text
      ngram: 13               # n (GPT-3 and PaLM used 13-grams)
      min_words: 8            # shorter eval texts are matched whole; below min_words, skipped
      action: remove          # remove | flag
      apply_to: null          # null = every source, or a list of source names

Text is compared in a normalised form: lower-cased (`str.lower`), every character that is not
a Unicode letter or digit (punctuation, symbols, `_`) turned into a space, then split on
whitespace. "Hello, World!" and "hello world" are the same two words.

A document is contaminated by an evaluation set when one of its word n-grams is an n-gram of
one of the set's texts. An eval text with fewer than `ngram` words cannot have an n-gram; if it
has at least `min_words` words it is matched as a whole (a document containing all its words
in a row is contaminated), and if it has fewer it is skipped and counted as too short: a
handful of words in a row ("the united states of") is not evidence of leakage.

N-grams are compared by 64-bit hashes, computed by the k-gram hashing of near dedup
(pipeline/dedup/minhash.py: a polynomial over each word's UTF-8 bytes, mixed with SplitMix64,
and a k-gram's hash combining its k word hashes and k), vectorised over a batch of documents.
The evaluation sets' hashes form one sorted uint64 array (a Beam side input); each document
batch is looked up with one `np.searchsorted`. With a million eval n-grams, a chance
collision needs about 2^44 document
n-grams per false positive.

`remove` rejects a contaminated document with the reason `decontamination.<set>` (the first
matching set by name; `meta["contaminated_by"]` lists all); `flag` keeps it with that meta.
Counters per source (`prep.<source>`): `decontamination.checked`, `contamination.<set>` (in
both modes) and `drop.decontamination.<set>`; the summary `decontamination.json` (published
to `<output_dir>/decontamination/`) holds the counts per evaluation set and source and what
each evaluation set contributed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import re
import time
from typing import Annotated, Any, Collection, Iterable, Literal, Mapping, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from pydantic import BeforeValidator, Field, Strict, model_validator

from pipeline import corpus_stage_charts, json_files, progress
from pipeline.corpus_stage import StageDirs, StageOutput, SwitchedSectionStage
from pipeline.counting import DropCounter
from pipeline.dedup import minhash
from pipeline.document import Document
from pipeline.step_runner import REJECTED, rejected_record, split_by_source
from pipeline.validation import (
    Int,
    KeyProblem,
    SourceNames,
    SpecError,
    SpecModel,
    check_known_sources,
    kind,
    parse_model,
    resolve_path,
)

STAGE = "decontamination"
ACTIONS = ("remove", "flag")
STATS_FILE = "decontamination.json"
META_KEY = "contaminated_by"
MATCH_CHARS = 1 << 20  # characters of text hashed at once when matching (bounds the word arrays)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _eval_set_pairs(value: Any) -> Any:
    """{name: path} -> ((name, path), ...) sorted by name, each checked."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"expected a non-empty mapping of name to JSONL path, got {kind(value)}")
    for name, path in value.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise KeyProblem(str(name), "names use letters, digits, '_', '-' and '.' (they "
                                        "become counter names)")
        if not isinstance(path, str) or not path:
            raise KeyProblem(name, f"expected a path to a JSONL file, got {kind(path)}")
    return tuple(sorted(value.items()))


class DecontaminationConfig(SpecModel):
    """The `decontamination:` section (see the module docstring for each key)."""

    eval_sets: Annotated[tuple[tuple[str, str], ...],
                         BeforeValidator(_eval_set_pairs,
                                         json_schema_input_type=dict[str, str])]
    text_field: Annotated[str, Strict(), Field(min_length=1)] = "text"
    ngram: Int = Field(13, ge=1, le=64)
    min_words: Int = Field(8, ge=1)  # default: min(8, ngram)
    action: Literal["remove", "flag"] = "remove"
    apply_to: SourceNames | None = None  # None: every source

    @model_validator(mode="before")
    @classmethod
    def _default_min_words(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("min_words") is None and isinstance(
                data.get("ngram"), int) and not isinstance(data.get("ngram"), bool):
            return dict(data, min_words=min(8, data["ngram"]))
        return data

    @model_validator(mode="after")
    def _min_words_at_most_ngram(self) -> "DecontaminationConfig":
        if self.min_words > self.ngram:
            raise KeyProblem("min_words", f"expected at most ngram ({self.ngram}), "
                                          f"got {self.min_words}")
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = STAGE,
                     base_dir: str | None = None) -> "DecontaminationConfig":
        """Validates a spec section (not the files: see `check_eval_sets`).

        `base_dir` resolves relative eval-set paths (the spec file's folder)."""
        config = parse_model(cls, {} if data is None else data, key=where)
        return config.model_copy(update={"eval_sets": tuple(
            (name, resolve_path(path, base_dir)) for name, path in config.eval_sets)})

    def check_sources(self, known: Collection[str], where: str = STAGE) -> None:
        check_known_sources(f"{where}.apply_to", self.apply_to, known)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.eval_sets)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump()

    def fingerprint(self) -> dict[str, Any]:
        """The config plus a SHA-256 of each eval-set file: what a job's config hash should
        cover, so that editing an eval set (not only the spec) redoes the work."""
        digests = {}
        for name, path in self.eval_sets:
            try:
                with FileSystems.open(path, compression_type="uncompressed") as f:
                    digests[name] = hashlib.sha256(f.read()).hexdigest()
            except Exception as e:
                raise EvalSetError(f"{STAGE}.eval_sets.{name}: cannot read {path}: {e}") from None
        return {**self.to_json(), "eval_set_sha256": digests}


# ---------------------------------------------------------------------------------------------
# Normalisation and hashing.

_NOT_WORD = re.compile(r"[\W_]+")

# Byte -> lower-cased byte, and byte -> "is part of a word". ASCII letters and digits are word
# bytes; every other ASCII byte separates words; bytes >= 0x80 only occur in text that went
# through `normalize` first, where every non-ASCII character left is a letter or digit.
_LOWER = np.arange(256, dtype=np.uint8)
_LOWER[ord("A"):ord("Z") + 1] += 32
_IS_WORD = np.zeros(256, dtype=bool)
for _lo, _hi in (("a", "z"), ("A", "Z"), ("0", "9")):
    _IS_WORD[ord(_lo):ord(_hi) + 1] = True
_IS_WORD[0x80:] = True


def normalize(text: str) -> str:
    """Lower-case; non-letters/digits become spaces; words joined by single spaces.

    This is the definition. The hashing below gets the same words faster: ASCII text is split
    and lower-cased byte-wise in numpy, other text goes through this function first."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def words(text: str) -> list[str]:
    return normalize(text).split()


@dataclasses.dataclass(frozen=True)
class BatchWords:
    """The words of a batch of texts, hashed: `hashes[i]` is word i, of text `doc[i]`."""

    hashes: np.ndarray    # uint64 [words]
    doc: np.ndarray       # int64 [words]
    counts: np.ndarray    # int64 [texts]: words per text
    first: np.ndarray     # int64 [texts]: index of each text's first word


def batch_words(texts: Sequence[str]) -> BatchWords:
    """Hashes every word of every text in a few numpy passes over the batch's bytes, with the
    dedup shingles' word hash (pipeline/dedup/minhash.py)."""
    parts = [(t if t.isascii() else normalize(t)).encode("utf-8") for t in texts]
    ends = np.cumsum([len(b) + 1 for b in parts], dtype=np.int64)  # each text + a separator
    data = np.frombuffer(b" ".join(parts) + b" ", dtype=np.uint8)
    edges = np.diff(_IS_WORD[data].astype(np.int8), prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edges == 1)
    lengths = np.flatnonzero(edges == -1) - starts
    doc = np.searchsorted(ends, starts, side="right").astype(np.int64)
    counts = np.bincount(doc, minlength=len(texts)).astype(np.int64)
    first = np.cumsum(counts) - counts
    return BatchWords(minhash.hash_words(_LOWER[data], starts, lengths), doc, counts, first)


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy 2's hash-based unique is several times slower here)."""
    values = np.sort(values)
    if values.size:
        values = values[np.concatenate(([True], values[1:] != values[:-1]))]
    return values


# ---------------------------------------------------------------------------------------------
# Evaluation sets.

class EvalSetError(SpecError):
    """A missing or malformed evaluation set: names the file and the line."""


def read_eval_set(name: str, path: str, text_field: str) -> list[str]:
    """Texts of a JSONL evaluation set (compressed by extension: .gz, .bz2, .zst, ... are read
    through Beam's FileSystems); any bad line is an error naming the file and line."""
    try:
        with FileSystems.open(path) as f:
            raw = f.read()
    except Exception as e:  # missing file, unreadable bucket, corrupt compression
        raise EvalSetError(f"{STAGE}.eval_sets.{name}: cannot read {path}: {e}") from None
    texts = []
    for number, raw_line in enumerate(raw.split(b"\n"), start=1):
        where = f"{path}:{number} (eval set {name})"
        if not raw_line.strip():
            continue
        try:
            record = json.loads(raw_line.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise EvalSetError(f"{where}: not UTF-8 ({e})") from None
        except json.JSONDecodeError as e:
            raise EvalSetError(f"{where}: not valid JSON ({e})") from None
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            raise EvalSetError(f"{where}: expected a JSON object with a string field "
                               f"'{text_field}' (set decontamination.text_field to the field "
                               "that holds the text)")
        texts.append(record[text_field])
    if not texts:
        raise EvalSetError(f"{path} (eval set {name}): no texts; an evaluation set must hold "
                           "at least one JSON line")
    return texts


def check_eval_sets(config: DecontaminationConfig) -> dict[str, int]:
    """Reads every evaluation set before the pipeline runs; returns texts per set."""
    return {name: len(read_eval_set(name, path, config.text_field))
            for name, path in config.eval_sets}


@dataclasses.dataclass(frozen=True)
class EvalSetHashes:
    """What one evaluation set contributes: its hashes by n-gram length, and counts."""

    name: str
    hashes: dict[int, np.ndarray]  # k -> sorted unique uint64 hashes of k-grams
    texts: int
    texts_whole: int       # shorter than n words, matched as a whole
    texts_too_short: int   # fewer than min_words words: skipped


def hash_eval_set(name: str, texts: Sequence[str], ngram: int, min_words: int) -> EvalSetHashes:
    """All n-grams of the long texts, and the whole of each short one, hashed in one batch."""
    words_ = batch_words(texts)
    long_text = words_.counts >= ngram
    whole = (words_.counts >= min_words) & ~long_text
    whole_lengths = sorted(set(words_.counts[whole].tolist()))
    by_length: dict[int, np.ndarray] = {}
    for k, grams in minhash.kgram_series(words_.hashes, [ngram, *whole_lengths]):
        if not grams.size:
            continue
        if k == ngram:
            # every n-gram that starts and ends inside one text (texts are concatenated)
            keep = words_.doc[:grams.size] == words_.doc[k - 1:k - 1 + grams.size]
            selected = grams[keep]
        else:
            selected = grams[words_.first[whole & (words_.counts == k)]]
        if selected.size:
            by_length[k] = sorted_unique(np.concatenate([by_length.get(k, selected), selected]))
    return EvalSetHashes(name, by_length, len(texts), int(whole.sum()),
                         int((words_.counts < min_words).sum()))


def load_and_hash(entry: tuple[str, str], config: DecontaminationConfig) -> EvalSetHashes:
    name, path = entry
    return hash_eval_set(name, read_eval_set(name, path, config.text_field),
                         config.ngram, config.min_words)


@dataclasses.dataclass
class EvalIndex:
    """All evaluation sets' n-grams in one sorted array; `owner` says which sets hold each.

    `owner[i]` indexes `groups`, the distinct sets of evaluation-set indices (an n-gram shared
    by two sets belongs to a group of both). `bits` is a bitmap over the top `filter_bits` bits
    of every hash: one random read rules out almost every document n-gram, and only the few
    that pass (about 1 in 16 up to 67M eval n-grams; the bitmap stops growing at 128 MB) are
    looked up with `np.searchsorted`.
    """

    names: tuple[str, ...]
    lengths: tuple[int, ...]   # the k-gram lengths present
    hashes: np.ndarray         # sorted unique uint64
    owner: np.ndarray          # int32 index into groups
    groups: tuple[tuple[int, ...], ...]
    summary: dict[str, Any]
    bits: np.ndarray           # uint8 bitmap, 2^filter_bits bits
    filter_bits: int

    @classmethod
    def build(cls, sets: Iterable[EvalSetHashes]) -> "EvalIndex":
        sets = sorted(sets, key=lambda s: s.name)
        names = tuple(s.name for s in sets)
        lengths = tuple(sorted({k for s in sets for k in s.hashes}))
        all_hashes = [h for s in sets for h in s.hashes.values()]
        set_ids = [np.full(h.size, i, dtype=np.int64)
                   for i, s in enumerate(sets) for h in s.hashes.values()]
        if not all_hashes:
            unique, owner, groups = np.zeros(0, np.uint64), np.zeros(0, np.int32), ()
        else:
            hashes = np.concatenate(all_hashes)
            unique = sorted_unique(hashes)
            inverse = np.searchsorted(unique, hashes).astype(np.int64)
            # distinct (n-gram, set) pairs, sorted by n-gram then set
            keys = sorted_unique(inverse * len(sets) + np.concatenate(set_ids))
            pairs = np.stack([keys // len(sets), keys % len(sets)])
            per_gram = np.bincount(pairs[0], minlength=unique.size)
            first = np.cumsum(per_gram) - per_gram
            owner = pairs[1][first].copy()          # the set, where only one set has the n-gram
            groups_list = [(i,) for i in range(len(sets))]
            group_of = {g: i for i, g in enumerate(groups_list)}
            for g in np.flatnonzero(per_gram > 1).tolist():  # shared by several sets: rare
                members = tuple(pairs[1][first[g]:first[g] + per_gram[g]].tolist())
                owner[g] = group_of.setdefault(members, len(groups_list))
                if owner[g] == len(groups_list):
                    groups_list.append(members)
            owner = owner.astype(np.int32)
            groups = tuple(groups_list)
        filter_bits = int(min(30, max(16, np.ceil(np.log2(max(1, unique.size) * 16)))))
        bits = np.zeros(1 << (filter_bits - 3), dtype=np.uint8)
        top = unique >> np.uint64(64 - filter_bits)
        np.bitwise_or.at(bits, (top >> np.uint64(3)).astype(np.int64),
                         (np.uint8(1) << (top & np.uint64(7)).astype(np.uint8)))
        summary = {s.name: {"texts": s.texts, "texts_matched_whole": s.texts_whole,
                            "texts_too_short": s.texts_too_short,
                            "ngrams": int(sum(h.size for h in s.hashes.values()))} for s in sets}
        return cls(names, lengths, unique, owner, groups, summary, bits, filter_bits)

    def lookup(self, grams: np.ndarray) -> np.ndarray:
        """Index into `hashes` of each gram, or -1 where the gram is in no evaluation set."""
        top = grams >> np.uint64(64 - self.filter_bits)
        maybe = ((self.bits[(top >> np.uint64(3)).astype(np.int64)]
                  >> (top & np.uint64(7)).astype(np.uint8)) & 1).astype(bool)
        out = np.full(grams.size, -1, dtype=np.int64)
        candidates = np.flatnonzero(maybe)
        if candidates.size:
            position = np.searchsorted(self.hashes, grams[candidates])
            position[position == self.hashes.size] = 0
            found = self.hashes[position] == grams[candidates]
            out[candidates[found]] = position[found]
        return out

    def match_batch(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """For each text, the names of the evaluation sets it shares an n-gram with. Texts are
        hashed MATCH_CHARS at a time: the word arrays cost about 50 bytes a character, and a
        batch of a thousand books would otherwise need them all at once."""
        result: list[tuple[str, ...]] = []
        start = 0
        while start < len(texts):
            end, chars = start + 1, len(texts[start])
            while end < len(texts) and chars + len(texts[end]) <= MATCH_CHARS:
                chars += len(texts[end])
                end += 1
            result.extend(self._match_texts(texts[start:end]))
            start = end
        return result

    def _match_texts(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        result: list[tuple[str, ...]] = [()] * len(texts)
        if not self.hashes.size or not texts:
            return result
        words_ = batch_words(texts)
        if not words_.hashes.size:
            return result
        found_docs, found_groups = [], []
        for k, grams in minhash.kgram_series(words_.hashes, self.lengths):
            if not grams.size:
                continue
            position = self.lookup(grams)
            hit = np.flatnonzero(position >= 0)
            if not hit.size:
                continue
            first_doc = words_.doc[hit]
            inside = first_doc == words_.doc[hit + k - 1]  # not across two documents
            found_docs.append(first_doc[inside])
            found_groups.append(self.owner[position[hit[inside]]])
        if not found_docs:
            return result
        pairs = np.unique(np.stack([np.concatenate(found_docs),
                                    np.concatenate(found_groups).astype(np.int64)]), axis=1)
        per_doc: dict[int, set[int]] = {}
        for doc, group in pairs.T.tolist():
            per_doc.setdefault(doc, set()).update(self.groups[group])
        for doc, sets in per_doc.items():
            result[doc] = tuple(self.names[i] for i in sorted(sets))
        return result


# ---------------------------------------------------------------------------------------------
# The Beam stage.

_STATS = "stats"


class _DecontaminateBatchFn(beam.DoFn):
    def __init__(self, config: DecontaminationConfig):
        self.config = config
        self.apply_to = None if config.apply_to is None else frozenset(config.apply_to)
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.counts = DropCounter(STAGE)
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, batch: list[Document], index: EvalIndex):
        batch, others = split_by_source(batch, self.apply_to)
        yield from others
        if not batch:
            return
        started = time.perf_counter()
        outputs = list(self._process(batch, index))  # timed before they move downstream
        self.counts.timed_batch([d["source"] for d in batch], started)
        yield from outputs

    def _process(self, batch: list[Document], index: EvalIndex):
        self.ticker.tick("documents checked", len(batch))
        remove = self.config.action == "remove"
        stats: dict[str, dict[str, int]] = {}
        for doc, matched in zip(batch, index.match_batch([d["text"] for d in batch])):
            source = doc["source"]
            counters = self.counts.counters(source)
            counters.inc(f"{STAGE}.checked")
            source_stats = stats.setdefault(source, {"checked": 0, "contaminated": 0})
            source_stats["checked"] += 1
            if not matched:
                yield doc
                continue
            source_stats["contaminated"] += 1
            for name in matched:
                counters.inc(f"contamination.{name}")
                source_stats[f"set.{name}"] = source_stats.get(f"set.{name}", 0) + 1
            doc = dict(doc, meta=dict(doc["meta"], **{META_KEY: list(matched)}))
            if remove:
                reason = f"{STAGE}.{matched[0]}"
                self.counts.dropped(doc["source"], reason, doc["text"])
                yield beam.pvalue.TaggedOutput(REJECTED, rejected_record(doc, reason))
            else:
                yield doc
        for source, counts in stats.items():
            yield beam.pvalue.TaggedOutput(_STATS, (source, counts))


def _sum_stats(dicts) -> dict[str, int]:
    total: dict[str, int] = {}
    for d in dicts:
        for key, n in d.items():
            total[key] = total.get(key, 0) + n
    return total


def _stats_record(per_source: list[tuple[str, dict[str, int]]], index: EvalIndex,
                  config: DecontaminationConfig) -> dict[str, Any]:
    sources = {}
    for source, counts in sorted(per_source, key=lambda kv: kv[0]):
        sources[source] = {
            "checked": counts.get("checked", 0), "contaminated": counts.get("contaminated", 0),
            "by_eval_set": {name: counts.get(f"set.{name}", 0) for name in index.names}}
    totals = {name: sum(s["by_eval_set"][name] for s in sources.values())
              for name in index.names}
    return {"action": config.action, "ngram": config.ngram, "min_words": config.min_words,
            "normalisation": "lower-case; non-letters/digits -> space; whitespace split",
            "eval_sets": {name: dict(index.summary[name], path=path,
                                     documents_contaminated=totals[name])
                          for name, path in config.eval_sets},
            "sources": sources}


class Decontaminate(beam.PTransform):
    """Documents -> StageOutput(kept documents, rejected records, {decontamination.json: the
    counts per evaluation set and source}) against the configured eval sets.

    The evaluation sets are read and checked here, before the pipeline runs (an error names the
    file and line), and read again inside the pipeline to build the side-input index.
    """

    def __init__(self, config: DecontaminationConfig, *, label: str = STAGE,
                 min_batch_size: int = 16, max_batch_size: int = 1024):
        super().__init__(label=label)
        self.config = config
        self.min_batch_size = min_batch_size
        self.max_batch_size = max_batch_size
        self.texts_per_set = check_eval_sets(config)

    def expand(self, docs):
        config = self.config
        index = (docs.pipeline
                 | "eval_sets" >> beam.Create(list(config.eval_sets))
                 | "hash_eval_sets" >> beam.Map(load_and_hash, config)
                 | "gather_eval_sets" >> beam.combiners.ToList()
                 | "build_index" >> beam.Map(EvalIndex.build))
        checked = (
            docs
            | "batch" >> beam.BatchElements(min_batch_size=self.min_batch_size,
                                            max_batch_size=self.max_batch_size)
            | "match" >> beam.ParDo(_DecontaminateBatchFn(config), beam.pvalue.AsSingleton(index))
            .with_outputs(REJECTED, _STATS, main="kept"))
        record = (checked[_STATS]
                  | "sum_stats" >> beam.CombinePerKey(_sum_stats)
                  | "gather_stats" >> beam.combiners.ToList()
                  | "stats_record" >> beam.Map(_stats_record, beam.pvalue.AsSingleton(index),
                                               config))
        return StageOutput(checked.kept, checked[REJECTED], {STATS_FILE: record})


class DecontaminationStage(SwitchedSectionStage):
    """The `decontamination:` section; absent, null or false = off."""

    name = STAGE
    title = "Decontamination"
    config_model = DecontaminationConfig

    def expand(self, docs, config: DecontaminationConfig, spec: Any,
               dirs: StageDirs) -> StageOutput:
        return docs | Decontaminate(config, label="match")

    def manifest_counts(self, counters: Mapping[str, int]) -> dict[str, Any]:
        prefix = "contamination."
        return {"checked": counters.get(f"{STAGE}.checked", 0),
                "contamination": {k[len(prefix):]: v for k, v in sorted(counters.items())
                                  if k.startswith(prefix)}}

    def report_data(self, published_dir: str) -> dict[str, Any]:
        """decontamination.json as the stage wrote it."""
        return json_files.read_json(FileSystems.join(published_dir, STATS_FILE)) or {}

    def report_section(self, data: Mapping[str, Any]) -> str:
        """Documents contaminated per evaluation set (and per source in the chart)."""
        if not data:
            return ""
        e = html.escape
        chart = corpus_stage_charts.img_tag(corpus_stage_charts.contamination_chart(data))
        rows = "".join(
            f"<tr><td>{e(name)}</td><td>{d.get('texts', 0):,}</td>"
            f"<td>{d.get('documents_contaminated', 0):,}</td></tr>"
            for name, d in sorted(data["eval_sets"].items()))
        checked = sum(s["checked"] for s in data["sources"].values())
        return (f"<p>{checked:,} documents checked for shared "
                f"{data['ngram']}-grams; action: {e(data['action'])}.</p>{chart}"
                f"<table><tr><th>eval set</th><th>texts</th><th>documents contaminated</th></tr>"
                f"{rows}</table>")
