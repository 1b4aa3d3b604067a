"""The pieces of near dedup that need no pipeline: shingles, signatures, LSH parameters,
keeper order, canonical text, edit similarity and the bounded candidate pairs of a bucket."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.dedup import candidates, canonical, keeper, lsh_params, minhash, verify
from pipeline.dedup.config import DedupConfig, ExactConfig


def _reference_word_shingles(text, n):
    words = canonical.shingle_text(text).split()
    if not words:
        return set()
    n = min(n, len(words))
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _reference_jaccard(a, b, n=5):
    sa, sb = _reference_word_shingles(a, n), _reference_word_shingles(b, n)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


words = st.text(alphabet="abcdeé. ,!\n\tXY'", min_size=0, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=40), st.lists(words, max_size=40), st.integers(1, 6))
def test_vectorised_word_shingles_match_a_plain_python_reference(a, b, n):
    a, b = " ".join(a), " ".join(b)
    assert len(minhash.shingles(a, "word", n)) == len(_reference_word_shingles(a, n))
    ref = (_reference_jaccard(a, b, n) if (_reference_word_shingles(a, n) or
                                          _reference_word_shingles(b, n)) else 1.0)
    assert minhash.jaccard(minhash.shingles(a, "word", n), minhash.shingles(b, "word", n)) \
        == pytest.approx(ref)


def test_char_shingles_count_distinct_character_ngrams():
    text = "Abra cadabra, abra!"
    canon = canonical.shingle_text(text)
    expected = {canon[i:i + 3] for i in range(len(canon) - 2)}
    assert len(minhash.shingles(text, "char", 3)) == len(expected)


def test_signature_estimates_jaccard_and_is_seeded():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(5000)]
    base = [rng.choice(vocab) for _ in range(400)]
    for fraction in (0.05, 0.2, 0.5):
        other = [rng.choice(vocab) if rng.random() < fraction else w for w in base]
        a, b = minhash.shingles(" ".join(base)), minhash.shingles(" ".join(other))
        true = minhash.jaccard(a, b)
        estimate = minhash.estimated_jaccard(minhash.signature(a, 256, 7),
                                             minhash.signature(b, 256, 7))
        assert abs(estimate - true) < 0.1, (fraction, true, estimate)
    sig = minhash.signature(a, 64, 1)
    assert sig.dtype == np.uint32 and np.array_equal(sig, minhash.signature(a, 64, 1))
    assert not np.array_equal(sig, minhash.signature(a, 64, 2))


def test_long_document_is_hashed_in_bounded_blocks():
    text = " ".join(f"t{i}" for i in range(60_000))
    sig = minhash.signature(minhash.shingles(text), 32, 1)
    assert sig.shape == (32,) and sig.max() < 2**32


def test_band_keys_separate_families_and_bands():
    sig = minhash.signature(minhash.shingles("a b c d e f g"), 16, 1)
    prose = minhash.band_keys(sig, 4, 4, 0)
    code = minhash.band_keys(sig, 4, 4, 1)
    assert len(set(prose)) == 4 and not set(prose) & set(code)


def test_optimal_bands_rows_reproduces_the_standard_calculation():
    # datasketch's _optimal_param(0.8, 128, 0.5, 0.5) and SlimPajama's setting: 9 x 13.
    assert lsh_params.optimal_bands_rows(0.8, 128, 0.5, 0.5) == (9, 13)
    b, r = lsh_params.optimal_bands_rows(0.8, 128, 0.05, 0.95)
    assert b * r <= 128
    # Recall-heavy weights move the S-curve left: more candidates at 0.8.
    assert lsh_params.candidate_probability(0.8, b, r) > \
        lsh_params.candidate_probability(0.8, 9, 13)
    with pytest.raises(ValueError):
        lsh_params.optimal_bands_rows(1.0, 128)


def test_keeper_order_rules():
    doc = lambda i, role="webpages", score=None: {  # noqa: E731
        "id": i, "role": role, "text": "t", "meta": {} if score is None else
        {"quality_score": score}}
    smallest = DedupConfig()
    assert keeper.priority_key(doc("a"), smallest) < keeper.priority_key(doc("b"), smallest)
    roles = DedupConfig(keep="preferred_role")
    assert keeper.priority_key(doc("z", "books"), roles) < \
        keeper.priority_key(doc("a", "webpages"), roles) < \
        keeper.priority_key(doc("a", "unlisted"), roles)
    quality = DedupConfig(keep="quality_score")
    ordered = sorted([doc("a", score=0.2), doc("b", score=0.9), doc("c"), doc("d", score=-3.5),
                      doc("e", score="high"), doc("f", score=0.9), doc("g", score=float("nan"))],
                     key=lambda d: keeper.priority_key(d, quality))
    assert [d["id"] for d in ordered] == ["b", "f", "a", "d", "c", "e", "g"]
    for cfg in (smallest, roles, quality):
        assert keeper.id_of(keeper.priority_key(doc("x|y", score=1.0), cfg), cfg) == "x|y"


def test_canonical_text_options():
    text = "Hello,   World!\nHello"
    assert canonical.canonical_text(text, lowercase=True, collapse_whitespace=True,
                                    strip_punctuation=True) == "hello world hello"
    assert canonical.canonical_text(text, lowercase=False, collapse_whitespace=False,
                                    strip_punctuation=False) == text
    assert canonical.exact_key("A  b", ExactConfig()) == canonical.exact_key("a b", ExactConfig())
    assert canonical.exact_key("a b", ExactConfig()) != canonical.exact_key("a b!", ExactConfig())
    assert canonical.exact_key("a b", ExactConfig(strip_punctuation=True)) == \
        canonical.exact_key("a, b!", ExactConfig(strip_punctuation=True))
    canonical.exact_key("lone surrogate \ud800", ExactConfig())  # never raises


def _levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@settings(max_examples=200, deadline=None)
@given(st.text("abc\n ", max_size=30), st.text("abc\n ", max_size=30))
def test_edit_similarity_is_normalised_levenshtein(a, b):
    longest = max(len(a), len(b))
    expected = 1.0 if longest == 0 else 1 - _levenshtein(a, b) / longest
    assert verify.edit_similarity(a, b) == pytest.approx(expected)
    cut = verify.edit_similarity(a, b, cutoff=0.7)
    assert cut == (pytest.approx(expected) if expected >= 0.7 else 0.0)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=0, max_size=300), st.randoms())
def test_bucket_pairs_are_bounded_and_independent_of_order(ids, rnd):
    members = [f"n{i:04d}" for i in ids]
    pairs, size, capped = candidates.bucket_pairs(b"key", members, 20, 3)
    pairs = sorted(pairs)
    shuffled = list(members)
    rnd.shuffle(shuffled)
    again, _, _ = candidates.bucket_pairs(b"key", shuffled, 20, 3)
    assert sorted(again) == pairs and size == len(members)
    assert all(a < b for a, b in pairs)
    distinct = len(set(members))
    if not capped:
        assert len(set(pairs)) == distinct * (distinct - 1) // 2
    else:
        assert len(pairs) <= 3 * len(members)
        anchors = candidates.anchors_of(b"key", members, 3)
        assert all(a in anchors or b in anchors for a, b in pairs)
        # every distinct member meets an anchor
        assert {x for p in pairs for x in p} == set(members)


def test_shingle_kind_is_checked():
    with pytest.raises(ValueError, match="shingle kind"):
        minhash.shingles("a b", "sentence", 2)
