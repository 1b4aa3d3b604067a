"""The quality classifier itself: hashed word n-gram features, a logistic-regression model,
its safe file format, and GLaM's Pareto keep rule. No Beam here (pipeline/quality_classifier.py
runs it inside the prep job).

Features are scikit-learn's `HashingVectorizer` (word n-grams, hashed into `num_features`
buckets, l2-normalised counts). It is stateless, so a saved model is just its weights, its
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
import time
import zipfile
from typing import Any, Iterable, Sequence

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

    def to_json(self) -> dict[str, Any]:
        return {
            "featurizer": "sklearn.feature_extraction.text.HashingVectorizer",
            "analyzer": "word", "lowercase": True, "alternate_sign": False, "norm": "l2",
            "ngram_range": list(self.ngram_range), "num_features": self.num_features,
            "max_chars": self.max_chars,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FeatureSettings":
        expected = cls().to_json()
        for key in ("featurizer", "analyzer", "lowercase", "alternate_sign", "norm"):
            if data.get(key) != expected[key]:
                raise ValueError(f"model settings: {key} is {data.get(key)!r}; this version of "
                                 f"the pipeline scores with {expected[key]!r}")
        lo, hi = data["ngram_range"]
        return cls(ngram_range=(int(lo), int(hi)), num_features=int(data["num_features"]),
                   max_chars=int(data["max_chars"]))

    def vectorizer(self):
        from sklearn.feature_extraction.text import HashingVectorizer

        return HashingVectorizer(
            analyzer="word", lowercase=True, alternate_sign=False, norm="l2",
            ngram_range=self.ngram_range, n_features=self.num_features, dtype=np.float64)

    def clip(self, text: str) -> str:
        return text[:self.max_chars]


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
        if self.weights.shape != (self.settings.num_features,):
            raise ValueError(f"weights have shape {self.weights.shape}; the settings say "
                             f"{self.settings.num_features} features")

    @property
    def version(self) -> str:
        return model_version(self.settings, self.weights, self.intercept)

    def features(self, texts: Sequence[str]):
        """CSR matrix [len(texts), num_features] of the texts' clipped prefixes."""
        if self._vectorizer is None:
            self._vectorizer = self.settings.vectorizer()
        return self._vectorizer.transform([self.settings.clip(t) for t in texts])

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        return self.features(texts) @ self.weights + self.intercept

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Scores in [0, 1] for a batch of texts (one sparse mat-vec for the whole batch)."""
        z = self.decision(texts)
        return np.round(1.0 / (1.0 + np.exp(-z)), SCORE_DECIMALS)

    def __getstate__(self):  # Beam ships the model to workers; the vectorizer is rebuilt there
        state = dict(self.__dict__)
        state["_vectorizer"] = None
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


def train_model(positives: Sequence[tuple[str, str]], negatives: Sequence[tuple[str, str]],
                features: FeatureSettings, training: TrainingSettings) -> QualityModel:
    """Logistic regression on (id, text) samples; a seeded id hash holds out a split for AUC.

    Classes are weighted to balance (scores do not depend on the sample-size ratio). lbfgs is
    deterministic, so the same samples give the same weights.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    import sklearn

    if not positives or not negatives:
        raise ValueError(f"the quality classifier needs both classes: got {len(positives)} "
                         f"positive and {len(negatives)} negative documents")
    started = time.perf_counter()
    rows = sorted([(i, t, 1) for i, t in positives] + [(i, t, 0) for i, t in negatives])
    ids = [r[0] for r in rows]
    labels = np.array([r[2] for r in rows], dtype=np.int64)
    heldout = unit_interval(training.seed, "heldout", ids) < training.heldout_fraction
    train_rows = ~heldout
    if len(set(labels[train_rows].tolist())) < 2:
        raise ValueError("after holding out heldout_fraction of the sample, the training split "
                         "has only one class; raise sample_per_class or lower heldout_fraction")
    untrained = QualityModel(features, np.zeros(features.num_features), 0.0)
    x = untrained.features([r[1] for r in rows])
    classifier = LogisticRegression(C=training.regularization_c, solver="lbfgs",
                                    max_iter=training.max_iter, class_weight="balanced")
    classifier.fit(x[train_rows], labels[train_rows])
    train_seconds = time.perf_counter() - started
    model = QualityModel(features, classifier.coef_[0], float(classifier.intercept_[0]))

    held_labels = labels[heldout]
    auc = None
    if len(set(held_labels.tolist())) == 2:
        held_scores = 1.0 / (1.0 + np.exp(-(x[heldout] @ model.weights + model.intercept)))
        auc = round(float(roc_auc_score(held_labels, held_scores)), 6)
    model.metadata = {
        "heldout_auc": auc,
        "samples": {"positive": len(positives), "negative": len(negatives)},
        "train": {"positive": int(labels[train_rows].sum()),
                  "negative": int((labels[train_rows] == 0).sum())},
        "heldout": {"positive": int(held_labels.sum()),
                    "negative": int((held_labels == 0).sum())},
        "training": dataclasses.asdict(training),
        "solver": "sklearn LogisticRegression(lbfgs, class_weight=balanced)",
        "converged_iterations": int(classifier.n_iter_[0]),
        "sklearn_version": sklearn.__version__,
    }
    model.train_seconds = round(train_seconds, 3)
    log.info("quality classifier %s trained on %d+%d documents in %.1f s, held-out AUC %s",
             model.version, model.metadata["train"]["positive"],
             model.metadata["train"]["negative"], train_seconds, auc)
    return model


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
