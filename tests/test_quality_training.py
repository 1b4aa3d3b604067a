"""The classifier's packed training matrix gives back, chunk by chunk, exactly the features
the model scores with, and the fit over it is sklearn's LogisticRegression to the last bit:
the memory saving (issue 21) must not change a single kept document."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from pipeline import quality_model, quality_training

WORDS = ["alpha", "beta", "the", "of", "and", "river", "stone", "Über", "1999", ".", "!",
         "der", "la", "—"]


def _texts(rng: np.random.Generator, n: int, longest: int = 80) -> list[str]:
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(0, longest)))) for _ in range(n)]


def _packed(settings, texts, chunk_size):
    seen = []
    packed = quality_training.pack_rows(settings, texts, chunk_size, seen.append)
    assert seen == [min(chunk_size, len(texts) - s) for s in range(0, len(texts), chunk_size)]
    return packed


def _whole(settings, texts):
    model = quality_model.QualityModel(settings, np.zeros(settings.total_features), 0.0)
    return model.features(texts)


def _assert_same_matrix(packed, whole):
    assert packed.shape == whole.shape and packed.nnz == whole.nnz
    rebuilt = sparse.vstack([chunk for _, chunk in packed.chunks()], format="csr")
    assert np.array_equal(rebuilt.indptr, whole.indptr)
    assert np.array_equal(rebuilt.indices, whole.indices)
    assert rebuilt.data.tobytes() == whole.data.tobytes()


@hyp_settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n=st.integers(1, 40), chunk_size=st.integers(1, 17),
       order_features=st.sampled_from([0, 2 ** 10]))
def test_packed_chunks_are_the_model_features_bit_for_bit(seed, n, chunk_size, order_features):
    settings = quality_model.FeatureSettings(num_features=2 ** 12, order_features=order_features)
    texts = _texts(np.random.default_rng(seed), n)
    packed = _packed(settings, texts, chunk_size)
    _assert_same_matrix(packed, _whole(settings, texts))
    weights = np.random.default_rng(seed + 1).normal(size=settings.total_features)
    assert (packed @ weights).tobytes() == (_whole(settings, texts) @ weights).tobytes()


def test_counts_too_large_for_four_bytes_take_eight():
    """With 2**28 hashed features only 3 bits are left for a count in 4 bytes; a word said 500
    times must still come back exact."""
    settings = quality_model.FeatureSettings(num_features=2 ** 28, order_features=2 ** 10)
    texts = ["stone " * 500 + "river", "", "the of and"]
    packed = _packed(settings, texts, 2)
    assert {dtype for _, dtype, *_ in packed._chunks} == {np.dtype(np.uint64),
                                                          np.dtype(np.uint32)}
    _assert_same_matrix(packed, _whole(settings, texts))


def test_the_packed_matrix_is_a_third_of_scipys_and_its_file_goes_on_close(tmp_path):
    settings = quality_model.FeatureSettings()
    texts = _texts(np.random.default_rng(3), 400, longest=400)
    with quality_training.pack_rows(settings, texts, 128) as packed:
        whole = _whole(settings, texts)
        assert packed.nbytes < 0.4 * (whole.data.nbytes + whole.indices.nbytes
                                      + whole.indptr.nbytes)
    with quality_training.PackedRows(settings, str(tmp_path)) as spilled:
        spilled.append(*settings.counts(texts))
        assert len(list(tmp_path.iterdir())) <= 1  # unlinked at once where the OS allows
        _assert_same_matrix(spilled, whole)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("c", [1.0, 0.05])
def test_the_fit_is_sklearns_logistic_regression_bit_for_bit(c):
    """Same objective, same L-BFGS settings, same order of every sum: sklearn's weights,
    intercept and iteration count, exactly, with the rows split over several chunks."""
    rng = np.random.default_rng(7)
    settings = quality_model.FeatureSettings(num_features=2 ** 14, order_features=2 ** 10)
    good = [" ".join(rng.choice(WORDS[:7], size=60)) for _ in range(150)]
    bad = [" ".join(rng.choice(WORDS[5:], size=60)) for _ in range(60)]
    order = rng.permutation(len(good) + len(bad))
    texts = [(good + bad)[i] for i in order]
    labels = np.array([1] * len(good) + [0] * len(bad))[order]
    expected = LogisticRegression(C=c, solver="lbfgs", max_iter=1000,
                                  class_weight="balanced").fit(_whole(settings, texts), labels)
    evaluations = []
    weights, intercept, iterations = quality_training.fit_balanced_logistic(
        _packed(settings, texts, 37), labels, c, 1000,
        on_evaluation=lambda: evaluations.append(1))
    assert len(evaluations) >= iterations > 0  # progress ticks through the fit
    assert weights.tobytes() == expected.coef_[0].tobytes()
    assert intercept == float(expected.intercept_[0])
    assert iterations == int(expected.n_iter_[0])
