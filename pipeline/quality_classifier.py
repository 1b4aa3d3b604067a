"""The quality-classifier corpus stage (PaLM / GLaM): train on the job's own sources, score,
keep by threshold or by GLaM's Pareto sampling, and write score histograms.

    quality_classifier:
      positive_sources: [books, wikipedia]   # sampled as the "high quality" class
      negative_sources: [web]                # sampled as the "raw webpages" class
      apply_to: [web]                        # sources that are scored (and filtered)
      sample_per_class: 20000
      heldout_fraction: 0.1                  # held out of the sample to measure AUC
      ngram_range: [1, 2]                    # word n-grams, hashed
      num_features: 262144
      max_chars: 5000                        # the prefix of each document that is featurised
      regularization_c: 1.0                  # inverse L2 strength of the logistic regression
      keep: pareto                           # pareto | threshold | score_only
      threshold: 0.5                         # keep: threshold keeps score >= threshold
      pareto_alpha: 9.0                      # keep: pareto (GLaM's value)
      seed: 0
      model_path: null                       # a saved .npz to use instead of training

Inside the job (`QualityClassifier`, a PTransform from documents to a `StageOutput`: kept,
rejected, summaries; `QualityClassifierStage` is the corpus stage, pipeline/corpus_stage.py):
1. sample: each document of a positive (negative) source gets the key blake2b(seed, id); the
   `sample_per_class` smallest keys are the sample (`beam.combiners.Top.Smallest`), so the sample
   is the same with any number of workers and on every rerun;
2. train (one worker; the sample is small by design): pipeline/quality_model.py, saved to
   `<stats_dir>/quality_model.npz`, with the summary quality_model.json (version, held-out AUC,
   sample sizes, settings);
3. score: documents of the `apply_to` sources, in batches (`beam.BatchElements`), one sparse
   matrix-vector product per batch; the score goes to `meta["quality_score"]` (6 decimals);
4. keep: `threshold`, `pareto` (draw fixed by (seed, id)) or `score_only` (nothing dropped, e.g.
   so that dedup can prefer the better copy). Rejected records carry the score in their meta
   and the reason `quality_classifier.threshold` or `quality_classifier.pareto`;
5. histograms: 20 fixed bins over [0, 1] per source, all scored and kept documents, summed by a
   `CombinePerKey`: the summary quality_scores.json.
Documents of other sources pass through untouched.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Annotated, Any, Collection, Literal, Mapping

import apache_beam as beam
import numpy as np
from apache_beam.io.filesystems import FileSystems
from pydantic import Field, Strict, model_validator

from pipeline import corpus_stage_charts, progress, quality_model, stash
from pipeline.corpus_stage import StageDirs, StageOutput, SwitchedSectionStage
from pipeline.counting import DropCounter
from pipeline.document import Document
from pipeline.step_runner import REJECTED, rejected_record, split_by_source
from pipeline.validation import (
    Int,
    KeyProblem,
    Number,
    SourceNames,
    SpecError,
    SpecModel,
    check_known_sources,
    parse_model,
    resolve_path,
)

log = logging.getLogger(__name__)

KEEP_RULES = ("pareto", "threshold", "score_only")  # the values of `keep`
HISTOGRAM_BINS = 20
MODEL_FILE = "quality_model.npz"
MODEL_STATS_FILE = "quality_model.json"
SCORES_FILE = "quality_scores.json"
SCORE_KEY = "quality_score"
STAGE = "quality_classifier"

_TRAINING_KEYS = ("positive_sources", "negative_sources", "sample_per_class", "heldout_fraction",
                  "ngram_range", "num_features", "max_chars", "regularization_c")


class QualityClassifierConfig(SpecModel):
    """The `quality_classifier:` section (see the module docstring for each key)."""

    apply_to: SourceNames
    positive_sources: SourceNames = ()  # () with a pre-trained model_path
    negative_sources: SourceNames = ()
    sample_per_class: Int = Field(20000, ge=2)
    heldout_fraction: Number = Field(0.1, ge=0.0, le=0.5)
    ngram_range: tuple[Int, Int] = (1, 2)
    num_features: Int = Field(2 ** 18, ge=16, le=2 ** 24)
    max_chars: Int = Field(5000, ge=1)
    regularization_c: Number = Field(1.0, gt=0.0)
    keep: Literal["pareto", "threshold", "score_only"] = "pareto"
    threshold: Number = Field(0.5, ge=0.0, le=1.0)
    pareto_alpha: Number = Field(9.0, gt=0.0)
    seed: Int = 0
    model_path: Annotated[str, Strict(), Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _training_or_pretrained(self) -> "QualityClassifierConfig":
        if not 1 <= self.ngram_range[0] <= self.ngram_range[1] <= 5:
            raise KeyProblem("ngram_range", "expected [min_n, max_n] with 1 <= min_n <= max_n "
                                            f"<= 5, got {list(self.ngram_range)}")
        if self.model_path is not None:
            extra = [k for k in _TRAINING_KEYS if k in self.model_fields_set]
            if extra:
                raise KeyProblem(extra[0], "a pre-trained model (model_path) is used as it is; "
                                           "its features come from the file and it is not "
                                           f"retrained, so remove {', '.join(extra)} or "
                                           "model_path")
            return self
        for key in ("positive_sources", "negative_sources"):
            if not getattr(self, key):
                raise KeyProblem(key, "missing: expected a non-empty list of source names")
        both = sorted(set(self.positive_sources) & set(self.negative_sources))
        if both:
            raise KeyProblem("negative_sources", f"'{both[0]}' is also a positive source; a "
                                                 "source can be in one class only")
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, where: str = STAGE,
                     base_dir: str | None = None) -> "QualityClassifierConfig":
        """Validates a spec section; errors name `where.<key>` and what was expected.

        `base_dir` resolves a relative `model_path` (the spec file's folder)."""
        config = parse_model(cls, {} if data is None else data, key=where)
        if config.model_path is None:
            return config
        return config.model_copy(update={"model_path": resolve_path(config.model_path,
                                                                    base_dir)})

    def check_sources(self, known: Collection[str], where: str = STAGE) -> None:
        """Every source named must be one of the spec's sources."""
        for key in ("apply_to", "positive_sources", "negative_sources"):
            check_known_sources(f"{where}.{key}", getattr(self, key), known)

    @property
    def features(self) -> quality_model.FeatureSettings:
        return quality_model.FeatureSettings(ngram_range=self.ngram_range,
                                             num_features=self.num_features,
                                             max_chars=self.max_chars)

    @property
    def training(self) -> quality_model.TrainingSettings:
        return quality_model.TrainingSettings(heldout_fraction=self.heldout_fraction,
                                              regularization_c=self.regularization_c,
                                              seed=self.seed)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump()

    def fingerprint(self) -> dict[str, Any]:
        """The config, plus the model's version when a saved model is used: what a job's config
        hash should cover (replacing the model file redoes the work)."""
        out = self.to_json()
        if self.model_path is not None:
            out["model_version"] = quality_model.load_model(self.model_path).version
        return out


# ---------------------------------------------------------------------------------------------
# Training branch.

def _sample_entry(doc: Document, seed: int, max_chars: int) -> tuple[int, str, str]:
    return quality_model.sample_key(seed, doc["id"]), doc["id"], doc["text"][:max_chars]


class _SampleTexts:
    """A chosen document's text prefix, read by reference (full chunk path, offset, length)
    when the training featurises it; the most recently used chunks are kept open."""

    def __init__(self, max_chars: int, keep: int = 64):
        self.max_chars = max_chars
        self._files = stash.OpenFiles(keep)

    def __call__(self, loc: tuple[str, int, int]) -> str:
        return stash.read_at(*loc, self._files.get(loc[0]))["text"][:self.max_chars]

    def close(self) -> None:
        self._files.close()


class _TrainFn(beam.DoFn):
    """positives, negatives (side input) -> the model; ticks "classifier training" per
    featurised chunk, so a long training is not a silent stage. `by_reference`: the samples
    are (key, id, location) and their texts are read while featurising."""

    def __init__(self, config: QualityClassifierConfig, by_reference: bool = False):
        self.config = config
        self.by_reference = by_reference
        self.progress_dir = progress.current_dir()

    def process(self, positives: list, negatives: list):
        ticker = progress.Ticker(self.progress_dir)

        def on_chunk(rows: int) -> None:
            ticker.tick("classifier training documents", rows)
            ticker.flush()

        def on_evaluation() -> None:  # the fit's 30-60 evaluations take a minute at 600 MB
            ticker.tick("classifier fit evaluations", 1)
            ticker.flush()

        read = _SampleTexts(self.config.max_chars) if self.by_reference else None
        try:
            yield _train(positives, negatives, self.config, on_chunk, read, on_evaluation)
        finally:
            if read is not None:
                read.close()


def _train(positives: list, negatives: list, config: QualityClassifierConfig,
           on_chunk=None, read=None, on_evaluation=None) -> quality_model.QualityModel:
    if not positives or not negatives:
        empty = "positive_sources" if not positives else "negative_sources"
        raise ValueError(
            f"quality_classifier: no document of {empty} "
            f"{list(getattr(config, empty))} reached the classifier (all filtered out before "
            "it, or the sources are empty); nothing to train on")
    model = quality_model.train_model([(i, t) for _, i, t in positives],
                                      [(i, t) for _, i, t in negatives],
                                      config.features, config.training, on_chunk, read,
                                      on_evaluation)
    model.metadata.update({"positive_sources": list(config.positive_sources),
                           "negative_sources": list(config.negative_sources)})
    return model


def _save_model(model: quality_model.QualityModel, stats_dir: str, published_dir: str,
                config: QualityClassifierConfig) -> dict[str, Any]:
    """Saves a model trained here into `stats_dir`; returns its record (quality_model.json),
    which names the model file where it will be once the job is published."""
    record = {"model_version": model.version, "trained": config.model_path is None,
              "model_path": config.model_path, "settings": model.settings.to_json(),
              "config": config.to_json(), "train_seconds": model.train_seconds,
              **model.metadata}
    if config.model_path is None:
        quality_model.save_model(model, FileSystems.join(stats_dir, MODEL_FILE))
        record["model_path"] = FileSystems.join(published_dir, MODEL_FILE)
    log.info("quality classifier %s (%s), held-out AUC %s; stats in %s", model.version,
             "trained" if record["trained"] else f"loaded from {config.model_path}",
             model.metadata.get("heldout_auc"), published_dir)
    return record


def _load_checked(path: str, version: str) -> quality_model.QualityModel:
    model = quality_model.load_model(path)
    if model.version != version:
        raise ValueError(f"{path}: the quality model changed while the job ran "
                         f"(version {model.version}, {version} when the job started)")
    return model


# ---------------------------------------------------------------------------------------------
# Scoring branch.

_HISTOGRAMS = "histograms"


class _ScoreBatchFn(beam.DoFn):
    """Scores a batch with one sparse mat-vec, applies the keep rule, counts per source."""

    def __init__(self, config: QualityClassifierConfig):
        self.config = config
        self.apply_to = None if config.apply_to is None else frozenset(config.apply_to)
        self.progress_dir = progress.current_dir()

    def setup(self):
        self.counts = DropCounter(STAGE)
        self.ticker = progress.Ticker(self.progress_dir)

    def finish_bundle(self):
        self.ticker.flush()

    def process(self, batch: list[Document], model: quality_model.QualityModel):
        batch, others = split_by_source(batch, self.apply_to)
        yield from others
        if not batch:
            return
        started = time.perf_counter()
        outputs = list(self._process(batch, model))  # timed before they move downstream
        self.counts.timed_batch([d["source"] for d in batch], started)
        yield from outputs

    def _process(self, batch: list[Document], model: quality_model.QualityModel):
        self.ticker.tick("documents scored", len(batch))
        config = self.config
        scores = model.score([d["text"] for d in batch])
        if config.keep == "threshold":
            keep = scores >= config.threshold
        elif config.keep == "pareto":
            keep = quality_model.pareto_keep(scores, [d["id"] for d in batch],
                                             config.pareto_alpha, config.seed)
        else:
            keep = np.ones(len(batch), dtype=bool)
        reason = f"{STAGE}.{config.keep}"
        bins = np.minimum((scores * HISTOGRAM_BINS).astype(np.int64), HISTOGRAM_BINS - 1)
        per_source: dict[str, list[int]] = {}
        for i, (doc, score, kept) in enumerate(zip(batch, scores.tolist(), keep.tolist())):
            per_source.setdefault(doc["source"], []).append(i)
            doc = dict(doc, meta=dict(doc["meta"], **{SCORE_KEY: score}))
            counters = self.counts.counters(doc["source"])
            counters.inc(f"{STAGE}.scored")
            if kept:
                yield doc
            else:
                self.counts.dropped(doc["source"], reason, doc["text"])
                yield beam.pvalue.TaggedOutput(REJECTED, rejected_record(doc, reason))
        for source, rows in per_source.items():
            rows_arr = np.asarray(rows)
            counts = np.zeros((2, HISTOGRAM_BINS), dtype=np.int64)
            np.add.at(counts[0], bins[rows_arr], 1)
            np.add.at(counts[1], bins[rows_arr[keep[rows_arr]]], 1)
            yield beam.pvalue.TaggedOutput(_HISTOGRAMS, (source, counts))


def _histogram_record(per_source: list[tuple[str, np.ndarray]], model_version: str,
                      config: QualityClassifierConfig) -> dict[str, Any]:
    edges = np.linspace(0.0, 1.0, HISTOGRAM_BINS + 1).round(6).tolist()
    sources = {}
    for source, counts in sorted(per_source, key=lambda kv: kv[0]):
        scored, kept = int(counts[0].sum()), int(counts[1].sum())
        sources[source] = {"scored": scored, "kept": kept, "dropped": scored - kept,
                           "kept_fraction": round(kept / scored, 6) if scored else None,
                           "histogram": counts[0].tolist(), "kept_histogram": counts[1].tolist()}
    for source, data in sources.items():
        log.info("quality classifier: %s: %d scored, %d kept (%s)", source, data["scored"],
                 data["kept"], config.keep)
    return {"model_version": model_version, "keep": config.keep,
            "threshold": config.threshold if config.keep == "threshold" else None,
            "pareto_alpha": config.pareto_alpha if config.keep == "pareto" else None,
            "seed": config.seed, "apply_to": list(config.apply_to),
            "bin_edges": edges, "sources": sources}


def _sum_counts(arrays) -> np.ndarray:
    total = np.zeros((2, HISTOGRAM_BINS), dtype=np.int64)
    for a in arrays:
        total += a
    return total


class TrainFromRefs(beam.PTransform):
    """References {source, id, loc} of the documents that will be scored -> the model, trained
    on a sample chosen on (key, id, where) with only the chosen documents read back, a chunk of
    texts at a time (issue 21): it is ready before any document arrives, so the documents
    never wait for it."""

    def __init__(self, config: QualityClassifierConfig, label: str = "model"):
        super().__init__(label=label)
        self.config = config

    def expand(self, refs):
        config = self.config
        samples = {}
        for name, sources in (("positive", config.positive_sources),
                              ("negative", config.negative_sources)):
            wanted = frozenset(sources)
            samples[name] = (
                refs
                | f"{name}_refs" >> beam.Filter(lambda r, w=wanted: r["source"] in w)
                | f"{name}_ref_keys" >> beam.Map(
                    lambda r: (quality_model.sample_key(config.seed, r["id"]), r["id"],
                               r["loc"]))
                | f"{name}_sample" >> beam.combiners.Top.Smallest(config.sample_per_class))
        # Only the chosen references reach the training; it reads their texts chunk by
        # chunk, so the sample's texts never cross the runner or wait in memory together.
        return samples["positive"] | "train" >> beam.ParDo(
            _TrainFn(config, by_reference=True), beam.pvalue.AsSingleton(samples["negative"]))


class QualityClassifier(beam.PTransform):
    """Documents -> StageOutput(kept documents, rejected records, summaries), scoring the
    `apply_to` sources.

    Saves quality_model.npz into `stats_dir` when it trains one; the summaries are
    quality_model.json (version, AUC, sample sizes, settings; it names the model file under
    `published_dir`, default `stats_dir`) and quality_scores.json (histograms per source).
    A pre-trained `model_path` is loaded and checked here, before the pipeline runs.
    """

    def __init__(self, config: QualityClassifierConfig, stats_dir: str, *,
                 published_dir: str | None = None, label: str = STAGE,
                 min_batch_size: int = 16, max_batch_size: int = 512, model=None):
        super().__init__(label=label)
        self.model = model  # a model trained before the documents came (TrainFromRefs)
        self.config = config
        self.stats_dir = stats_dir
        self.published_dir = published_dir or stats_dir
        self.min_batch_size = min_batch_size
        self.max_batch_size = max_batch_size
        self.pretrained_version = None
        if config.model_path is not None:
            try:
                self.pretrained_version = quality_model.load_model(config.model_path).version
            except (FileNotFoundError, ValueError) as e:
                raise SpecError(f"{STAGE}.model_path: {e}") from None

    def _model(self, docs):
        config = self.config
        if self.model is not None:
            return self.model
        if config.model_path is not None:
            return (docs.pipeline | "model_path" >> beam.Create([config.model_path])
                    | "load_model" >> beam.Map(_load_checked, self.pretrained_version))
        samples = {}
        for name, sources in (("positive", config.positive_sources),
                              ("negative", config.negative_sources)):
            wanted = frozenset(sources)
            samples[name] = (
                docs
                | f"{name}_docs" >> beam.Filter(lambda d, w=wanted: d["source"] in w)
                | f"{name}_keys" >> beam.Map(_sample_entry, config.seed, config.max_chars)
                | f"{name}_sample" >> beam.combiners.Top.Smallest(config.sample_per_class))
        return samples["positive"] | "train" >> beam.ParDo(
            _TrainFn(config), beam.pvalue.AsSingleton(samples["negative"]))

    def expand(self, docs):
        config = self.config
        model = self._model(docs)
        model_record = model | "save_model" >> beam.Map(_save_model, self.stats_dir,
                                                        self.published_dir, config)
        version = model_record | "model_version" >> beam.Map(lambda r: r["model_version"])
        scored = (
            docs
            | "batch" >> beam.BatchElements(min_batch_size=self.min_batch_size,
                                            max_batch_size=self.max_batch_size)
            | "score" >> beam.ParDo(_ScoreBatchFn(config), beam.pvalue.AsSingleton(model))
            .with_outputs(REJECTED, _HISTOGRAMS, main="kept"))
        histograms = (scored[_HISTOGRAMS]
                      | "sum_histograms" >> beam.CombinePerKey(_sum_counts)
                      | "gather_histograms" >> beam.combiners.ToList()
                      | "histogram_record" >> beam.Map(_histogram_record,
                                                       beam.pvalue.AsSingleton(version), config))
        return StageOutput(scored.kept, scored[REJECTED],
                           {MODEL_STATS_FILE: model_record, SCORES_FILE: histograms})


class QualityClassifierStage(SwitchedSectionStage):
    """The `quality_classifier:` section; absent, null or false = off."""

    name = STAGE
    title = "Quality classifier"
    config_model = QualityClassifierConfig

    def prepare(self, refs, config: QualityClassifierConfig, spec: Any, dirs: StageDirs):
        """The model trained from references (pipeline/stage_runner.py: prepare_stages);
        None when a saved model is loaded instead."""
        if config.model_path is not None:
            return None
        return refs | f"{STAGE}/model_from_refs" >> TrainFromRefs(config)

    def expand(self, docs, config: QualityClassifierConfig, spec: Any,
               dirs: StageDirs, prepared=None) -> StageOutput:
        return docs | QualityClassifier(config, dirs.staging, published_dir=dirs.published,
                                        label="classify", model=prepared)

    def manifest_counts(self, counters: Mapping[str, int]) -> dict[str, Any]:
        return {"scored": counters.get(f"{STAGE}.scored", 0)}

    def report_section(self, data: Mapping[str, Any]) -> str:
        """Score histograms per scored source, with the model's version and held-out AUC."""
        scores, model = data.get("quality_scores"), data.get("quality_model") or {}
        if not scores:
            return ""
        e = html.escape
        auc = model.get("heldout_auc")
        chart = corpus_stage_charts.img_tag(
            corpus_stage_charts.quality_score_chart(scores, model))
        rows = "".join(
            f"<tr><td>{e(name)}</td><td>{d['scored']:,}</td><td>{d['kept']:,}</td>"
            f"<td>{100.0 * d['kept'] / d['scored'] if d['scored'] else 0.0:.1f}%</td></tr>"
            for name, d in sorted(scores["sources"].items()))
        rule = e(str(scores.get("keep")))
        if scores.get("keep") == "pareto":
            rule += f" (alpha {scores['pareto_alpha']})"
        elif scores.get("keep") == "threshold":
            rule += f" {scores['threshold']}"
        return (f"<p>Model {e(str(model.get('model_version')))} "
                f"({'trained in this job' if model.get('trained') else 'loaded'}), held-out AUC "
                f"{'n/a' if auc is None else f'{auc:.4f}'}; keep rule: {rule}.</p>{chart}"
                f"<table><tr><th>source</th><th>scored</th><th>kept</th><th>kept fraction</th>"
                f"</tr>{rows}</table>")
