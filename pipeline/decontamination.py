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

N-grams are compared by 64-bit hashes: each word's UTF-8 bytes are hashed with a polynomial
over the bytes (vectorised with numpy over a whole batch of documents), mixed with SplitMix64,
and a k-gram's hash combines its k word hashes and k. The evaluation sets' hashes form one
sorted uint64 array (a Beam side input); each document batch is looked up with one
`np.searchsorted`. With a million eval n-grams, a chance collision needs about 2^44 document
n-grams per false positive.

`remove` rejects a contaminated document with the reason `decontamination.<set>` (the first
matching set by name; `meta["contaminated_by"]` lists all); `flag` keeps it with that meta.
Counters per source (`prep.<source>`): `decontamination.checked`, `contamination.<set>` (in
both modes) and `drop.decontamination.<set>`; `<stats_dir>/decontamination.json` holds the
counts per evaluation set and source and what each evaluation set contributed.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Collection, Iterable, Mapping, Sequence

import apache_beam as beam
import numpy as np

from pipeline import config_check
from pipeline.document import Document
from pipeline.spec import SpecError
from pipeline.stages import REJECTED, _Counters, metrics_namespace, rejected_record

STAGE = "decontamination"
ACTIONS = ("remove", "flag")
STATS_FILE = "decontamination.json"
META_KEY = "contaminated_by"
_KEYS = {"eval_sets", "text_field", "ngram", "min_words", "action", "apply_to"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclasses.dataclass(frozen=True)
class DecontaminationConfig:
    eval_sets: tuple[tuple[str, str], ...]  # (name, path), sorted by name
    text_field: str = "text"
    ngram: int = 13
    min_words: int = 8
    action: str = "remove"
    apply_to: tuple[str, ...] | None = None  # None: every source

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = STAGE,
                     base_dir: str | None = None) -> "DecontaminationConfig":
        """Validates a spec section (not the files: see `check_eval_sets`).

        `base_dir` resolves relative eval-set paths (the spec file's folder)."""
        s = config_check.Section(data, where, _KEYS)
        sets = s.required("eval_sets", "a mapping of evaluation-set name to a JSONL file")
        if not isinstance(sets, Mapping) or not sets:
            raise s.error("eval_sets", "expected a non-empty mapping of name to JSONL path, got "
                                       f"{config_check.kind(sets)}")
        eval_sets = []
        for name, path in sets.items():
            if not isinstance(name, str) or not _NAME.match(name):
                raise s.error(f"eval_sets.{name}", "names use letters, digits, '_', '-' and '.' "
                                                   "(they become counter names)")
            if not isinstance(path, str) or not path:
                raise s.error(f"eval_sets.{name}", f"expected a path to a JSONL file, got "
                                                   f"{config_check.kind(path)}")
            eval_sets.append((name, config_check.resolve_path(path, base_dir)))
        ngram = s.integer("ngram", 13, minimum=1, maximum=64)
        min_words = s.integer("min_words", min(8, ngram), minimum=1)
        if min_words > ngram:
            raise s.error("min_words", f"expected at most ngram ({ngram}), got {min_words}")
        return cls(
            eval_sets=tuple(sorted(eval_sets)),
            text_field=s.string("text_field", "text"),
            ngram=ngram, min_words=min_words,
            action=s.choice("action", "remove", ACTIONS),
            apply_to=s.names("apply_to", None, allow_null=True),
        )

    def check_sources(self, known: Collection[str], where: str = STAGE) -> None:
        config_check.check_known_sources(where, "apply_to", self.apply_to, known)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.eval_sets)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------
# Normalisation and hashing.

_NOT_WORD = re.compile(r"[\W_]+")
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_BYTE_BASE = np.uint64(0x100000001B3)       # odd multiplier of the per-word polynomial
_NGRAM_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the per-n-gram polynomial


def normalize(text: str) -> str:
    """Lower-case; non-letters/digits become spaces; words joined by single spaces."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def words(text: str) -> list[str]:
    return normalize(text).split()


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: spreads every input bit over the whole 64-bit output."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


_POWERS: np.ndarray = np.ones(1, dtype=np.uint64)


def _powers(n: int) -> np.ndarray:
    """_BYTE_BASE ** i (mod 2^64) for i < n, grown on demand."""
    global _POWERS
    if len(_POWERS) < n:
        size = max(n, 2 * len(_POWERS))
        powers = np.full(size, _BYTE_BASE, dtype=np.uint64)
        powers[0] = 1
        _POWERS = np.cumprod(powers, dtype=np.uint64)
    return _POWERS[:n]


def word_hashes(normalized: str) -> np.ndarray:
    """uint64 hash of every word of a normalised string (single spaces), vectorised."""
    data = np.frombuffer(normalized.encode("utf-8"), dtype=np.uint8)
    if data.size == 0:
        return np.zeros(0, dtype=np.uint64)
    is_space = data == 32
    space_at = np.flatnonzero(is_space)
    starts = np.concatenate(([0], space_at + 1))           # byte offset of each word
    lengths = np.diff(np.concatenate((starts, [data.size + 1]))) - 1
    letters = data[~is_space].astype(np.uint64) + np.uint64(1)
    word_start = starts - np.arange(starts.size)           # offset of each word in `letters`
    offset_in_word = np.arange(letters.size) - np.repeat(word_start, lengths)
    terms = letters * _powers(int(lengths.max()))[offset_in_word]
    return _mix(np.add.reduceat(terms, word_start) ^ lengths.astype(np.uint64))


def kgram_series(hashes: np.ndarray, lengths: Sequence[int]):
    """Yields (k, hashes of every run of k consecutive words) for each k in `lengths`.

    The polynomial for k words extends the one for k - 1 words by one multiply-add, so all
    lengths up to the longest cost one pass over k."""
    wanted = set(lengths)
    acc = hashes.copy()
    for k in range(1, max(lengths) + 1):
        if k > 1:
            acc = acc[:-1] * _NGRAM_BASE + hashes[k - 1:]
        if k in wanted:
            yield k, _mix(acc ^ np.uint64(k))
        if not acc.size:
            return


def kgram_hashes(hashes: np.ndarray, k: int) -> np.ndarray:
    """Hash of every run of k consecutive word hashes (len(hashes) - k + 1 of them)."""
    for _, grams in kgram_series(hashes, [k]):
        return grams
    return np.zeros(0, dtype=np.uint64)


def text_kgram_hashes(text: str, k: int) -> np.ndarray:
    return kgram_hashes(word_hashes(normalize(text)), k)


# ---------------------------------------------------------------------------------------------
# Evaluation sets.

class EvalSetError(SpecError):
    """A missing or malformed evaluation set: names the file and the line."""


def read_eval_set(name: str, path: str, text_field: str) -> list[str]:
    """Texts of a JSONL evaluation set (compressed by extension: .gz, .bz2, .zst, ... are read
    through Beam's FileSystems); any bad line is an error naming the file and line."""
    from apache_beam.io.filesystems import FileSystems

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
    by_length: dict[int, list[np.ndarray]] = {}
    whole = short = 0
    for text in texts:
        hashes = word_hashes(normalize(text))
        if hashes.size >= ngram:
            by_length.setdefault(ngram, []).append(kgram_hashes(hashes, ngram))
        elif hashes.size >= min_words:
            whole += 1
            by_length.setdefault(hashes.size, []).append(kgram_hashes(hashes, hashes.size))
        else:
            short += 1
    return EvalSetHashes(name, {k: np.unique(np.concatenate(v)) for k, v in by_length.items()},
                         len(texts), whole, short)


def load_and_hash(entry: tuple[str, str], config: DecontaminationConfig) -> EvalSetHashes:
    name, path = entry
    return hash_eval_set(name, read_eval_set(name, path, config.text_field),
                         config.ngram, config.min_words)


@dataclasses.dataclass
class EvalIndex:
    """All evaluation sets' n-grams in one sorted array; `owner` says which sets hold each.

    `owner[i]` indexes `groups`, the distinct sets of evaluation-set indices (an n-gram shared
    by two sets belongs to a group of both).
    """

    names: tuple[str, ...]
    lengths: tuple[int, ...]   # the k-gram lengths present
    hashes: np.ndarray         # sorted unique uint64
    owner: np.ndarray          # int32 index into groups
    groups: tuple[tuple[int, ...], ...]
    summary: dict[str, Any]

    @classmethod
    def build(cls, sets: Iterable[EvalSetHashes]) -> "EvalIndex":
        sets = sorted(sets, key=lambda s: s.name)
        names = tuple(s.name for s in sets)
        all_hashes, all_sets = [], []
        for i, s in enumerate(sets):
            for k, h in s.hashes.items():
                # the length is mixed into each hash already; keep k-grams apart by length too
                all_hashes.append(h)
                all_sets.append(np.full(h.size, i, dtype=np.int64))
        lengths = tuple(sorted({k for s in sets for k in s.hashes}))
        if not all_hashes:
            return cls(names, lengths, np.zeros(0, np.uint64), np.zeros(0, np.int32), (),
                       cls._summary(sets))
        hashes = np.concatenate(all_hashes)
        set_ids = np.concatenate(all_sets)
        order = np.lexsort((set_ids, hashes))
        hashes, set_ids = hashes[order], set_ids[order]
        unique, first = np.unique(hashes, return_index=True)
        # membership bitmask per unique hash -> group id
        masks = np.zeros(unique.size, dtype=object if len(sets) > 62 else np.int64)
        position = np.searchsorted(unique, hashes)
        if masks.dtype == object:
            for p, s in zip(position.tolist(), set_ids.tolist()):
                masks[p] = (masks[p] or 0) | (1 << s)
        else:
            np.bitwise_or.at(masks, position, np.left_shift(1, set_ids))
        distinct, owner = np.unique(masks, return_inverse=True)
        groups = tuple(tuple(i for i in range(len(sets)) if (int(m) >> i) & 1)
                       for m in distinct.tolist())
        return cls(names, lengths, unique, owner.astype(np.int32), groups, cls._summary(sets))

    @staticmethod
    def _summary(sets: Sequence[EvalSetHashes]) -> dict[str, Any]:
        return {s.name: {"texts": s.texts, "texts_matched_whole": s.texts_whole,
                         "texts_too_short": s.texts_too_short,
                         "ngrams": int(sum(h.size for h in s.hashes.values()))} for s in sets}

    def match_batch(self, texts: Sequence[str]) -> list[tuple[str, ...]]:
        """For each text, the names of the evaluation sets it shares an n-gram with."""
        result: list[tuple[str, ...]] = [()] * len(texts)
        if not self.hashes.size or not texts:
            return result
        normalized = [normalize(t) for t in texts]
        counts = np.array([s.count(" ") + 1 if s else 0 for s in normalized], dtype=np.int64)
        hashes = word_hashes(" ".join(s for s in normalized if s))
        doc_of_word = np.repeat(np.arange(len(texts)), counts)
        found_docs, found_groups = [], []
        for k, grams in kgram_series(hashes, self.lengths):
            if not grams.size:
                continue
            first_doc = doc_of_word[:grams.size]
            valid = first_doc == doc_of_word[k - 1:k - 1 + grams.size]  # not across documents
            position = np.searchsorted(self.hashes, grams)
            position[position == self.hashes.size] = 0
            hit = valid & (self.hashes[position] == grams)
            if hit.any():
                found_docs.append(first_doc[hit])
                found_groups.append(self.owner[position[hit]])
        if not found_docs:
            return result
        pairs = np.unique(np.stack([np.concatenate(found_docs),
                                    np.concatenate(found_groups)]), axis=1)
        per_doc: dict[int, set[int]] = {}
        for doc, group in pairs.T.tolist():
            per_doc.setdefault(doc, set()).update(self.groups[group])
        for doc, sets in per_doc.items():
            result[doc] = tuple(self.names[i] for i in sorted(sets))
        return result


# ---------------------------------------------------------------------------------------------
# The Beam stage.

_TO_CHECK = "to_check"
_STATS = "stats"


class _RouteFn(beam.DoFn):
    def __init__(self, apply_to: tuple[str, ...] | None):
        self.apply_to = None if apply_to is None else frozenset(apply_to)

    def process(self, doc: Document):
        if self.apply_to is None or doc["source"] in self.apply_to:
            yield beam.pvalue.TaggedOutput(_TO_CHECK, doc)
        else:
            yield doc


class _DecontaminateBatchFn(beam.DoFn):
    def __init__(self, config: DecontaminationConfig):
        self.config = config
        self.counters: dict[str, _Counters] = {}

    def _counter(self, source: str) -> _Counters:
        if source not in self.counters:
            self.counters[source] = _Counters(metrics_namespace(source))
        return self.counters[source]

    def process(self, batch: list[Document], index: EvalIndex):
        remove = self.config.action == "remove"
        stats: dict[str, dict[str, int]] = {}
        for doc, matched in zip(batch, index.match_batch([d["text"] for d in batch])):
            source = doc["source"]
            counters = self._counter(source)
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
                counters.inc(f"drop.{reason}")
                counters.inc("drop_bytes", len(doc["text"].encode("utf-8")))
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


def _write_json(record: dict[str, Any], path: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(path) as f:
        f.write(json.dumps(record, indent=2, sort_keys=True).encode("utf-8"))


class Decontaminate(beam.PTransform):
    """Documents -> (kept documents, rejected records) against the configured eval sets.

    The evaluation sets are read and checked here, before the pipeline runs (an error names the
    file and line), and read again inside the pipeline to build the side-input index. Writes
    `<stats_dir>/decontamination.json`.
    """

    def __init__(self, config: DecontaminationConfig, stats_dir: str, *, label: str = STAGE,
                 min_batch_size: int = 16, max_batch_size: int = 1024):
        super().__init__(label=label)
        self.config = config
        self.stats_dir = stats_dir
        self.min_batch_size = min_batch_size
        self.max_batch_size = max_batch_size
        self.texts_per_set = check_eval_sets(config)

    def expand(self, docs):
        from apache_beam.io.filesystems import FileSystems

        config = self.config
        index = (docs.pipeline
                 | "eval_sets" >> beam.Create(list(config.eval_sets))
                 | "hash_eval_sets" >> beam.Map(load_and_hash, config)
                 | "gather_eval_sets" >> beam.combiners.ToList()
                 | "build_index" >> beam.Map(EvalIndex.build))
        routed = docs | "route" >> beam.ParDo(_RouteFn(config.apply_to)).with_outputs(
            _TO_CHECK, main="passed")
        checked = (
            routed[_TO_CHECK]
            | "batch" >> beam.BatchElements(min_batch_size=self.min_batch_size,
                                            max_batch_size=self.max_batch_size)
            | "match" >> beam.ParDo(_DecontaminateBatchFn(config), beam.pvalue.AsSingleton(index))
            .with_outputs(REJECTED, _STATS, main="kept"))
        path = FileSystems.join(self.stats_dir, STATS_FILE)
        _ = (checked[_STATS]
             | "sum_stats" >> beam.CombinePerKey(_sum_stats)
             | "gather_stats" >> beam.combiners.ToList()
             | "stats_record" >> beam.Map(_stats_record, beam.pvalue.AsSingleton(index), config)
             | "write_stats" >> beam.Map(_write_json, path))
        kept = (routed.passed, checked.kept) | "merge" >> beam.Flatten()
        return kept, checked[REJECTED]
