"""The quality classifier itself: hashed word n-gram features, a logistic-regression model,
its safe file format, and GLaM's Pareto keep rule. No Beam here (pipeline/quality_classifier.py
runs it inside the prep job).

Features are scikit-learn's `HashingVectorizer` (word n-grams, hashed into `num_features`
buckets, l2-normalised counts), plus word-order features: n-grams (`order_ngram_range`, 2-4)
of the text's function-word skeleton, where every word that is not a function word becomes "w"
and punctuation stays ("the w of w , w to w ."), hashed into `order_features` more buckets. A
bag of words and word pairs scores shuffled prose almost like prose (the pairs that survive a
shuffle are still prose's pairs); the skeleton's n-grams are grammar, which shuffling breaks.
It is stateless, so a saved model is just its weights, its
intercept and the featuriser's settings; scoring needs no vocabulary. The score of a text is
sigmoid(x . w + b) computed here (a sparse matrix times the weight vector for a whole batch), so
a trained model and the same model reloaded from its file score bit-identically.

File format: `.npz` without object arrays (`np.load(..., allow_pickle=False)` reads it), holding
`weights` (float64, num_features), `intercept` (float64, 1), `settings_json` and
`metadata_json` (unicode scalars). The model's `version` is the first 16 hex digits of the
SHA-256 of the canonical settings JSON, the weights and the intercept; loading recomputes it
and refuses a file whose stored version does not match.

Pareto keep rule (GLaM, Du et al. 2022): keep a document when `np.random.pareto(alpha) > 1 -
score`. numpy's `pareto` draws from the Lomax (Pareto II) distribution, the classical Pareto
with scale 1 shifted to start at 0: P(X > t) = (1 + t)^-alpha for t >= 0. So
P(keep | score s) = (2 - s)^-alpha: 1 at s = 1, 2^-alpha at s = 0 (0.2 % for GLaM's alpha = 9).
The draw here is made by inverting that distribution at a uniform number derived from a seeded
hash of the document id, so a document's fate depends on (seed, id, score) alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import re
import time
import zipfile
from typing import Any, Callable, Iterable, Sequence

import numpy as np

log = logging.getLogger(__name__)

FORMAT = "palm-pipeline.quality-model/1"
SCORE_DECIMALS = 6  # scores are rounded so that they print and compare identically everywhere


@dataclasses.dataclass(frozen=True)
class FeatureSettings:
    """How a text becomes a feature vector; everything scoring needs besides the weights."""

    ngram_range: tuple[int, int] = (1, 2)
    num_features: int = 2 ** 18
    max_chars: int = 5000  # only the first max_chars characters of a document are featurised
    order_ngram_range: tuple[int, int] = (2, 4)  # function-word skeleton n-grams
    order_features: int = 2 ** 14  # 0 switches the word-order features off

    @property
    def total_features(self) -> int:
        return self.num_features + self.order_features

    def to_json(self) -> dict[str, Any]:
        return {
            "featurizer": "sklearn.feature_extraction.text.HashingVectorizer",
            "analyzer": "word", "lowercase": True, "alternate_sign": False, "norm": "l2",
            "ngram_range": list(self.ngram_range), "num_features": self.num_features,
            "max_chars": self.max_chars,
            "order_ngram_range": list(self.order_ngram_range),
            "order_features": self.order_features,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FeatureSettings":
        expected = cls().to_json()
        for key in ("featurizer", "analyzer", "lowercase", "alternate_sign", "norm"):
            if data.get(key) != expected[key]:
                raise ValueError(f"model settings: {key} is {data.get(key)!r}; this version of "
                                 f"the pipeline scores with {expected[key]!r}")
        lo, hi = data["ngram_range"]
        # Models saved before word-order features existed have none.
        order_lo, order_hi = data.get("order_ngram_range", (2, 4))
        return cls(ngram_range=(int(lo), int(hi)), num_features=int(data["num_features"]),
                   max_chars=int(data["max_chars"]),
                   order_ngram_range=(int(order_lo), int(order_hi)),
                   order_features=int(data.get("order_features", 0)))

    def vectorizer(self, norm: str | None = "l2"):
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(
            analyzer="word", lowercase=True, alternate_sign=False, norm=norm,
            ngram_range=self.ngram_range, n_features=self.num_features, dtype=np.float64)

    def order_vectorizer(self, norm: str | None = "l2"):
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(
            analyzer="word", lowercase=False, alternate_sign=False, norm=norm,
            token_pattern=r"\w+|[^\w\s]", ngram_range=self.order_ngram_range,
            n_features=self.order_features, dtype=np.float64)

    def clip(self, text: str) -> str:
        return text[:self.max_chars]

    def counts(self, texts: Sequence[str]):
        """(counts, norms): the raw hashed counts of the texts' clipped prefixes, a CSR matrix
        laid out as `QualityModel.features` lays out its values, and the float64 [rows, 2]
        l2 norms of each row's word and skeleton blocks (value = count / norm of its block;
        the training matrix keeps these, `pipeline.quality_training`)."""
        from scipy import sparse

        clipped = [self.clip(t) for t in texts]
        blocks = [self.vectorizer(norm=None).transform(clipped)]
        if self.order_features:
            blocks.append(self.order_vectorizer(norm=None).transform(
                list(map(skeleton, clipped))))
        norms = np.zeros((len(clipped), 2))
        for b, block in enumerate(blocks):
            rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
            # Counts are integers: the sum of their squares is exact in any order, so its root
            # is the one sklearn's row normaliser divides by.
            norms[:, b] = np.sqrt(np.bincount(rows, weights=block.data * block.data,
                                              minlength=block.shape[0]))
        counts = blocks[0] if len(blocks) == 1 else sparse.hstack(blocks, format="csr")
        return counts, norms


# Closed-class words of English, German and French (articles, pronouns, prepositions,
# conjunctions, auxiliaries): the skeleton keeps them and writes every other word as "w".
FUNCTION_WORDS = frozenset("""
a an the this that these those it its he she they we you i me him her them us my your our their
his of to in on at by for with from as into onto about over under after before between through
during without within and or but nor so if then than because while when where which who whom
whose what how not no is are was were be been being am do does did have has had will would can
could shall should may might must there here also only just very all any some each every
der die das den dem des ein eine einer einen einem und oder aber nicht ist sind war wird werden
mit von zu auf für im in an bei aus nach wie als auch sich es er sie wir ihr ich du dass wenn
le la les un une des du de et ou mais ne pas est sont était sera avec pour dans sur par au aux
en que qui quoi dont ce cette ces il elle ils elles nous vous je tu se son sa ses leur
""".split())
_CONTENT_WORD = re.compile(
    r"\b(?!(?:" + "|".join(sorted(FUNCTION_WORDS, key=len, reverse=True)) + r")\b)\w+\b")


def skeleton(text: str) -> str:
    """The text with every word that is not a function word replaced by "w" (lower-cased)."""
    return _CONTENT_WORD.sub("w", text.lower())


@dataclasses.dataclass
class QualityModel:
    """A linear model over hashed n-grams. `score` is P(high quality) under the model."""

    settings: FeatureSettings
    weights: np.ndarray  # float64 [num_features]
    intercept: float
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)  # saved with the model
    train_seconds: float | None = None  # how long training took (not saved: not reproducible)
    _vectorizer: Any = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self):
        self.weights = np.ascontiguousarray(self.weights, dtype=np.float64)
        self.intercept = float(self.intercept)
        if self.weights.shape != (self.settings.total_features,):
            raise ValueError(f"weights have shape {self.weights.shape}; the settings say "
                             f"{self.settings.total_features} features")

    @property
    def version(self) -> str:
        return model_version(self.settings, self.weights, self.intercept)

    def features(self, texts: Sequence[str]):
        """CSR matrix [len(texts), total_features] of the texts' clipped prefixes: word
        n-grams, then the skeleton's n-grams."""
        if self._vectorizer is None:
            self._vectorizer = self.settings.vectorizer()
            self._order_vectorizer = (self.settings.order_vectorizer()
                                      if self.settings.order_features else None)
        clipped = [self.settings.clip(t) for t in texts]
        words = self._vectorizer.transform(clipped)
        if self._order_vectorizer is None:
            return words
        from scipy import sparse

        order = self._order_vectorizer.transform(list(map(skeleton, clipped)))
        return sparse.hstack([words, order], format="csr")

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        return self.features(texts) @ self.weights + self.intercept

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Scores in [0, 1] for a batch of texts (one sparse mat-vec for the whole batch)."""
        z = self.decision(texts)
        return np.round(1.0 / (1.0 + np.exp(-z)), SCORE_DECIMALS)

    def __getstate__(self):  # Beam ships the model to workers; the vectorizer is rebuilt there
        state = dict(self.__dict__)
        state["_vectorizer"] = None
        state["_order_vectorizer"] = None
        return state


def model_version(settings: FeatureSettings, weights: np.ndarray, intercept: float) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps(settings.to_json(), sort_keys=True, separators=(",", ":")).encode())
    digest.update(np.ascontiguousarray(weights, dtype="<f8").tobytes())
    digest.update(np.asarray([intercept], dtype="<f8").tobytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Safe file format.

def model_bytes(model: QualityModel) -> bytes:
    """The .npz file's bytes. Written member by member with a fixed timestamp (np.savez stamps
    the current time), so the same model always gives the same bytes."""
    arrays = {
        "format": np.array(FORMAT),
        "version": np.array(model.version),
        "weights": model.weights.astype("<f8"),
        "intercept": np.asarray([model.intercept], dtype="<f8"),
        "settings_json": np.array(json.dumps(model.settings.to_json(), sort_keys=True)),
        "metadata_json": np.array(json.dumps(model.metadata, sort_keys=True, default=str)),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def save_model(model: QualityModel, path: str) -> str:
    """Writes the model (local path or any Beam filesystem); returns its version."""
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(path) as f:
        f.write(model_bytes(model))
    return model.version


def load_model(path: str) -> QualityModel:
    """Reads a model saved by `save_model`; never unpickles anything."""
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:
            blob = f.read()
    except Exception as e:  # Beam wraps missing files in BeamIOError
        raise FileNotFoundError(f"{path}: cannot read the quality model: {e}") from None
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            fmt = str(data["format"])
            if fmt != FORMAT:
                raise ValueError(f"format is {fmt!r}, expected {FORMAT!r}")
            settings = FeatureSettings.from_json(json.loads(str(data["settings_json"])))
            model = QualityModel(settings=settings, weights=data["weights"],
                                 intercept=float(data["intercept"][0]),
                                 metadata=json.loads(str(data["metadata_json"])))
            stored = str(data["version"])
    except (ValueError, KeyError, OSError) as e:
        raise ValueError(f"{path}: not a quality model saved by this pipeline ({e})") from None
    if stored != model.version:
        raise ValueError(f"{path}: stored version {stored} does not match its contents "
                         f"({model.version}); the file was changed or corrupted")
    return model


# ---------------------------------------------------------------------------------------------
# Training.

def unit_interval(seed: int, salt: str, ids: Iterable[str]) -> np.ndarray:
    """A uniform number in (0, 1) per id, from a seeded hash: same (seed, salt, id), same number."""
    out = []
    for doc_id in ids:
        digest = hashlib.blake2b(f"{seed}\x00{salt}\x00{doc_id}".encode(), digest_size=8).digest()
        out.append(int.from_bytes(digest, "little") >> 11)  # 53 random bits
    return (np.asarray(out, dtype=np.float64) + 0.5) / float(1 << 53)


def sample_key(seed: int, doc_id: str) -> int:
    """Sort key of a document for the training sample: the n smallest keys are the sample."""
    digest = hashlib.blake2b(f"{seed}\x00sample\x00{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    heldout_fraction: float = 0.1
    regularization_c: float = 1.0
    seed: int = 0
    max_iter: int = 1000
    # Shuffled copies of this fraction of the positives join the negatives, so the model
    # learns that prose's words in a random order are not prose (the word-order features
    # then carry weight; a bag of words cannot tell the two apart).
    shuffled_negatives: float = 0.5


def shuffled_picks(positive_ids: Sequence[str], fraction: float, seed: int) -> np.ndarray:
    """Which positives also serve, their words shuffled, as negatives: a seeded `fraction`."""
    if fraction <= 0 or not positive_ids:
        return np.zeros(len(positive_ids), dtype=bool)
    return unit_interval(seed, "shuffled", positive_ids) < fraction


def shuffle_words(text: str, seed: int, doc_id: str) -> str:
    """The words of `text` in a seeded random order (the negative made of a positive)."""
    words = text.split()
    order = np.random.default_rng(sample_key(seed, doc_id)).permutation(len(words))
    return " ".join(np.asarray(words)[order].tolist())


FEATURE_CHUNK = 2048  # texts featurised at once while training (bounds the temporaries)


def _training_rows(positives: Sequence[tuple[str, Any]], negatives: Sequence[tuple[str, Any]],
                   training: "TrainingSettings", text_of: Callable[[tuple], str]) -> list[tuple]:
    """(id, label, item, id of the shuffled positive or None) per training row, ordered as
    (id, text, label) sort; texts are read only to break ties of equal ids."""
    picks = shuffled_picks([i for i, _ in positives], training.shuffled_negatives, training.seed)
    rows = ([(i, 1, item, None) for i, item in positives]
            + [(i, 0, item, None) for i, item in negatives]
            + [(f"{i}#shuffled", 0, item, i) for (i, item), pick in zip(positives, picks)
               if pick])
    rows.sort(key=lambda r: r[0])
    start = 0
    while start < len(rows):
        end = start + 1
        while end < len(rows) and rows[end][0] == rows[start][0]:
            end += 1
        if end - start > 1:
            rows[start:end] = sorted(rows[start:end], key=lambda r: (text_of(r), r[1]))
        start = end
    return rows


def train_model(positives: Sequence[tuple[str, Any]], negatives: Sequence[tuple[str, Any]],
                features: FeatureSettings, training: TrainingSettings,
                on_chunk: Callable[[int], None] | None = None,
                read: Callable[[Any], str] | None = None,
                on_evaluation: Callable[[], None] | None = None) -> QualityModel:
    """Logistic regression on (id, text) samples; a seeded id hash holds out a split for AUC.

    Classes are weighted to balance (scores do not depend on the sample-size ratio). lbfgs is
    deterministic, so the same samples give the same weights. The training and held-out rows
    are featurised separately, FEATURE_CHUNK at a time (`on_chunk`: progress): the training
    rows into a packed matrix kept in a temporary file (`pipeline.quality_training`), the
    held-out ones scored after the fit; the fit is sklearn's `LogisticRegression(solver="lbfgs",
    class_weight="balanced")` run over that matrix, the same weights bit for bit
    (`on_evaluation`: progress, called after each evaluation of its objective). With `read`,
    a sample's second item is a reference that `read` turns into its text when its chunk is
    featurised, so the sample's texts are never all in memory at once (issue 21); the model is
    the same.
    """
    import sklearn
    from sklearn.metrics import roc_auc_score

    from pipeline import quality_training

    if not positives or not negatives:
        raise ValueError(f"the quality classifier needs both classes: got {len(positives)} "
                         f"positive and {len(negatives)} negative documents")
    started = time.perf_counter()
    read = read or (lambda text: text)

    def text_of(row: tuple) -> str:
        text = read(row[2])
        return text if row[3] is None else shuffle_words(text, training.seed, row[3])

    rows = _training_rows(positives, negatives, training, text_of)
    n_shuffled = sum(1 for r in rows if r[3] is not None)
    ids = [r[0] for r in rows]
    labels = np.array([r[1] for r in rows], dtype=np.int64)
    heldout = unit_interval(training.seed, "heldout", ids) < training.heldout_fraction
    train_rows = ~heldout
    if len(set(labels[train_rows].tolist())) < 2:
        raise ValueError("after holding out heldout_fraction of the sample, the training split "
                         "has only one class; raise sample_per_class or lower heldout_fraction")
    with quality_training.pack_rows(features, [r for r, h in zip(rows, heldout) if not h],
                                    FEATURE_CHUNK, on_chunk, text_of) as x_train:
        weights, intercept, iterations = quality_training.fit_balanced_logistic(
            x_train, labels[train_rows], training.regularization_c, training.max_iter,
            on_evaluation=on_evaluation)
    train_seconds = time.perf_counter() - started
    model = QualityModel(features, weights, intercept)

    held_labels = labels[heldout]
    auc = None
    if len(set(held_labels.tolist())) == 2:
        # Scored once, a chunk of texts at a time: nothing to keep for a second pass.
        held_texts = quality_training.text_chunks([r for r, h in zip(rows, heldout) if h],
                                                  FEATURE_CHUNK, text_of, on_chunk)
        decisions = np.concatenate([model.decision(texts) for texts in held_texts])
        held_scores = 1.0 / (1.0 + np.exp(-decisions))
        auc = round(float(roc_auc_score(held_labels, held_scores)), 6)
    model.metadata = {
        "heldout_auc": auc,
        "samples": {"positive": len(positives), "negative": len(negatives),
                    "shuffled_positives_as_negative": n_shuffled},
        "train": {"positive": int(labels[train_rows].sum()),
                  "negative": int((labels[train_rows] == 0).sum())},
        "heldout": {"positive": int(held_labels.sum()),
                    "negative": int((held_labels == 0).sum())},
        "training": dataclasses.asdict(training),
        "solver": "sklearn LogisticRegression(lbfgs, class_weight=balanced)",
        "converged_iterations": iterations,
        "sklearn_version": sklearn.__version__,
    }
    model.metadata["warnings"] = sample_warnings(model.metadata)
    for warning in model.metadata["warnings"]:
        log.warning("quality classifier: %s", warning)
    model.train_seconds = round(train_seconds, 3)
    log.info("quality classifier %s trained on %d+%d documents in %.1f s, held-out AUC %s",
             model.version, model.metadata["train"]["positive"],
             model.metadata["train"]["negative"], train_seconds, auc)
    return model


MIN_PER_CLASS = 50
MAX_CLASS_RATIO = 10.0


def sample_warnings(metadata: dict[str, Any]) -> list[str]:
    """What makes a trained model untrustworthy: too few examples of a class, classes too
    unbalanced, or no held-out AUC. (The rules before the classifier decide what it gets: a
    strict rule can leave a handful of negatives.)"""
    out = []
    pos, neg = metadata["samples"]["positive"], metadata["samples"]["negative"]
    small = min(pos, neg)
    if small < MIN_PER_CLASS:
        which = "negative" if neg < pos else "positive"
        out.append(f"too few examples to train on: {small} {which} against "
                   f"{max(pos, neg)} {'positive' if which == 'negative' else 'negative'} "
                   f"(want at least {MIN_PER_CLASS} of each); the scores mean little")
    elif max(pos, neg) / small > MAX_CLASS_RATIO:
        out.append(f"classes too unbalanced: {pos} positive against {neg} negative "
                   f"(more than {MAX_CLASS_RATIO:g}:1)")
    if metadata.get("heldout_auc") is None:
        held = metadata["heldout"]
        out.append(f"held-out AUC n/a: the held-out split has {held['positive']} positive and "
                   f"{held['negative']} negative documents; raise sample_per_class or "
                   "heldout_fraction")
    return out


# ---------------------------------------------------------------------------------------------
# Keep rules.

def pareto_keep_probability(scores: np.ndarray, alpha: float) -> np.ndarray:
    """P(np.random.pareto(alpha) > 1 - score) = (2 - score)^-alpha (Lomax survival function)."""
    return np.power(2.0 - np.asarray(scores, dtype=np.float64), -alpha)


def pareto_draws(uniforms: np.ndarray, alpha: float) -> np.ndarray:
    """Lomax(alpha) draws, distributed like np.random.pareto(alpha), by inverse transform."""
    return np.power(uniforms, -1.0 / alpha) - 1.0


def pareto_keep(scores: np.ndarray, ids: Sequence[str], alpha: float, seed: int) -> np.ndarray:
    """GLaM's rule with a draw per document fixed by (seed, id)."""
    draws = pareto_draws(unit_interval(seed, "pareto", ids), alpha)
    return draws > 1.0 - np.asarray(scores, dtype=np.float64)
