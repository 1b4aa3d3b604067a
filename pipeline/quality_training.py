"""The quality classifier's training matrix out of memory, and the fit over it.

A row of `QualityModel.features` is hashed n-gram counts, l2-normalised per block (word
n-grams, then the skeleton's n-grams): every value is count / sqrt(sum of the block's squared
counts). Counts are small integers and feature indices fit in 19 bits at the defaults, so an
entry packs into 4 bytes (index | count << index bits) and a row keeps its two norms: a third
of scipy's float64 CSR, which at the default sample (40,000 documents, ~1,700 entries each) is
about 1 GB. The packed entries go to a temporary file as they are made, so the worker holds
one chunk of them at a time (issue 21: the training's memory no longer grows with the sample);
each L-BFGS evaluation reads the file once, sequentially (330 MB at the default sample, from
the page cache where memory allows). The values are rebuilt a chunk at a time by the division
sklearn does, so they are bit for bit the model's features, and `fit_balanced_logistic`
minimises sklearn's own objective with its L-BFGS settings, walking the chunks in an order
that keeps every sum the same: the weights are `LogisticRegression(solver="lbfgs",
class_weight="balanced").fit`'s, bit for bit (tests/test_quality_training.py).
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any, Callable, Iterator, Sequence

import numpy as np

log = logging.getLogger(__name__)


class PackedRows:
    """Rows of hashed counts in 4 bytes an entry (8 in a chunk where a count would not fit),
    appended a chunk at a time (`FeatureSettings.counts`) to a temporary file in `directory`
    (the system's temporary folder by default); `chunks()` reads each chunk back as the float64
    CSR matrix `QualityModel.features` builds for its texts. Close it (or use it in a `with`)
    to delete the file."""

    def __init__(self, settings, directory: str | None = None):
        self.num_features = settings.num_features
        self.total_features = settings.total_features
        self.index_bits = max(1, (self.total_features - 1).bit_length())
        self.rows = 0
        self.nnz = 0
        self._file = tempfile.TemporaryFile(prefix="quality-rows-", dir=directory)
        # Per chunk: where its entries start in the file, their dtype and number, then the
        # entries per (row, block) and the norms, kept in memory (24 bytes a row).
        self._chunks: list[tuple[int, np.dtype, int, np.ndarray, np.ndarray]] = []
        self._end = 0

    def __enter__(self) -> "PackedRows":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows, self.total_features

    @property
    def nbytes(self) -> int:
        """The packed matrix's size: the file's entries and the rows' lengths and norms."""
        return self._end + sum(b.nbytes + n.nbytes for *_, b, n in self._chunks)

    def append(self, counts, norms: np.ndarray) -> None:
        """One chunk: `FeatureSettings.counts`'s (counts, norms)."""
        entries = (counts.indices.astype(np.uint64)
                   | (counts.data.astype(np.uint64) << np.uint64(self.index_bits)))
        if entries.size and int(entries.max()) < 1 << 32:
            entries = entries.astype(np.uint32)
        # Entries per (row, block): a row's word n-grams come before its skeleton n-grams.
        lengths = np.diff(counts.indptr)
        rows = np.repeat(np.arange(counts.shape[0]), lengths)
        words = np.bincount(rows[counts.indices < self.num_features], minlength=counts.shape[0])
        block_lengths = np.stack([words, lengths - words], axis=1).astype(np.int32)
        self._file.seek(self._end)
        self._file.write(memoryview(entries).cast("B"))
        self._chunks.append((self._end, entries.dtype, entries.size, block_lengths, norms))
        self._end += entries.nbytes
        self.rows += counts.shape[0]
        self.nnz += counts.nnz

    def chunks(self) -> Iterator[tuple[int, object]]:
        """(first row, float64 CSR) per appended chunk, in order."""
        from scipy import sparse

        start = 0
        for offset, dtype, size, block_lengths, norms in self._chunks:
            entries = np.empty(size, dtype=dtype)
            self._file.seek(offset)
            if self._file.readinto(memoryview(entries).cast("B")) != entries.nbytes:
                raise IOError(f"{self._file.name}: the classifier's training rows are cut "
                              "short (was the temporary folder cleaned while training?)")
            bits = entries.dtype.type(self.index_bits)
            indices = entries & entries.dtype.type((1 << self.index_bits) - 1)
            # Indices are below 2**31: a uint32 array reads as int32 without a copy.
            indices = indices.view(np.int32) if indices.dtype == np.uint32 \
                else indices.astype(np.int32)
            data = (entries >> bits).astype(np.float64)
            data /= np.repeat(norms.ravel(), block_lengths.ravel())
            del entries
            indptr = np.zeros(len(norms) + 1, dtype=np.int32 if len(data) < 2**31 else np.int64)
            np.cumsum(block_lengths.sum(axis=1), out=indptr[1:])
            yield start, sparse.csr_matrix((data, indices, indptr),
                                           shape=(len(norms), self.total_features))
            start += len(norms)

    def __matmul__(self, vector: np.ndarray) -> np.ndarray:
        """X @ vector (rows are independent: the same values as the whole matrix's product)."""
        out = np.empty(self.rows)
        for start, chunk in self.chunks():
            out[start:start + chunk.shape[0]] = chunk @ vector
        return out


def text_chunks(items: Sequence[Any], chunk_size: int,
                text_of: Callable[[Any], str] | None = None,
                on_chunk: Callable[[int], None] | None = None) -> Iterator[list[str]]:
    """The items' texts, `chunk_size` at a time: `items` are texts, or what `text_of` turns into
    a text when its chunk comes (then no more than a chunk of texts is in memory).
    `on_chunk(rows)` is called once a chunk has been used (progress)."""
    for start in range(0, len(items), chunk_size):
        chunk = list(items[start:start + chunk_size])
        yield chunk if text_of is None else [text_of(item) for item in chunk]
        if on_chunk is not None:
            on_chunk(len(chunk))


def pack_rows(settings, items: Sequence[Any], chunk_size: int,
              on_chunk: Callable[[int], None] | None = None,
              text_of: Callable[[Any], str] | None = None) -> PackedRows:
    """The items' feature rows, featurised `chunk_size` at a time (`text_chunks`; the
    vectorizer's temporaries for 40,000 texts are several GB, a chunk's a few tens of MB)."""
    packed = PackedRows(settings)
    try:
        for texts in text_chunks(items, chunk_size, text_of, on_chunk):
            packed.append(*settings.counts(texts))
    except BaseException:
        packed.close()
        raise
    return packed


def _add_transposed_product(chunk, vector: np.ndarray, out: np.ndarray) -> None:
    """out += chunk.T @ vector, entry by entry in row order: over the chunks in turn, the same
    additions in the same order as scipy's `X.T @ v` on the whole matrix (its CSC kernel adds
    each product into the running total), so the same sums."""
    # scipy's own kernel for `csc @ vector` (private, pinned): it adds into `out`, which the
    # public product cannot do without an extra, differently rounded sum per chunk.
    from scipy.sparse import _sparsetools

    rows, columns = chunk.shape
    _sparsetools.csc_matvec(columns, rows, chunk.indptr, chunk.indices, chunk.data, vector, out)


def fit_balanced_logistic(x: PackedRows, labels: np.ndarray, c: float, max_iter: int,
                          tol: float = 1e-4,
                          on_evaluation: Callable[[], None] | None = None,
                          ) -> tuple[np.ndarray, float, int]:
    """(weights, intercept, iterations) of sklearn's `LogisticRegression(C=c,
    solver="lbfgs", class_weight="balanced", max_iter, tol)` on 0/1 labels: its
    `LinearModelLoss` objective (class-weighted mean log-loss + l2 / (C * sum of weights)),
    written out over the packed chunks, and its `scipy.optimize.minimize` call.
    `on_evaluation()` is called after each evaluation of the objective (progress)."""
    # HalfBinomialLoss is a private name, pinned with sklearn: the pointwise loss of
    # LogisticRegression's lbfgs path; the bit-for-bit test against its fit guards an upgrade.
    from scipy import optimize
    from sklearn._loss.loss import HalfBinomialLoss
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.asarray(labels, dtype=np.int64)
    n = len(labels)
    sample_weight = np.ones(n)
    sample_weight *= compute_class_weight("balanced", classes=np.array([0, 1]), y=labels)[labels]
    target = np.ones(n)
    target[labels != 1] = 0.0
    sw_sum = np.sum(sample_weight)
    l2_strength = 1.0 / (c * float(sw_sum))
    base_loss = HalfBinomialLoss()
    n_features = x.total_features

    def loss_gradient(coef: np.ndarray) -> tuple[float, np.ndarray]:
        weights, intercept = coef[:-1], coef[-1]
        loss = np.empty(n)
        pointwise = np.empty(n)
        x_grad = np.zeros(n_features)
        for start, chunk in x.chunks():
            end = start + chunk.shape[0]
            raw = chunk @ weights + intercept
            loss[start:end], pointwise[start:end] = base_loss.loss_gradient(
                y_true=target[start:end], raw_prediction=raw,
                sample_weight=sample_weight[start:end], n_threads=1)
            pointwise[start:end] /= sw_sum
            _add_transposed_product(chunk, pointwise[start:end], x_grad)
        total = float(np.sum(loss) / sw_sum) + float(0.5 * l2_strength * (weights @ weights))
        grad = np.empty_like(coef)
        grad[:n_features] = x_grad + l2_strength * weights
        grad[-1] = np.sum(pointwise)
        if on_evaluation is not None:
            on_evaluation()
        return total, grad

    result = optimize.minimize(
        loss_gradient, np.zeros(n_features + 1), method="L-BFGS-B", jac=True,
        options={"maxiter": max_iter, "maxls": 50, "gtol": tol,
                 "ftol": 64 * np.finfo(float).eps})
    iterations = min(int(result.nit), max_iter)
    if result.status != 0:
        log.warning("quality classifier: L-BFGS stopped after %d iterations without "
                    "converging (%s); raise max_iter", iterations, result.message)
    return result.x[:-1].copy(), float(result.x[-1]), iterations
