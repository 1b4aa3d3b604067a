"""Dedup on references (pipeline/dedup/by_ref.py) decides exactly as dedup on documents
(exact.py, near.py): the same copies removed, for the same reason, naming the same keeper, on
the generated corpus of tests/test_dedup_pipeline.py (exact copies, near copies at known
similarities, LSH false positives), with every keeper rule."""

import os
import pickle
import tempfile

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from test_dedup_pipeline import make_corpus, run_dedup

from pipeline import stash
from pipeline.by_reference import DEDUP_REFS, StashFn
from pipeline.dedup.by_ref import ExactDedupRefs, NearDedupRefs
from pipeline.dedup.config import DedupConfig, NearConfig


def _save(path):
    def write(values):
        with open(path, "wb") as f:
            pickle.dump(values, f)
    return write


def run_by_ref(docs, config):
    """(sorted (id, reason, duplicate_of) of removed copies) via the reference path."""
    folder = tempfile.mkdtemp(prefix="dedup_ref_test_")
    at = {}
    placed = []
    for i, doc in enumerate(docs):  # three input units per source, in input order
        unit, pos = i % 3, i
        at[(doc["source"], unit, pos)] = doc["id"]
        placed.append(dict(doc, _at=(unit, pos)))
    directory = os.path.join(folder, "stash")
    out = os.path.join(folder, "drops.pkl")
    p = TestPipeline()
    stashed = (p | beam.Create(placed)
               | beam.ParDo(StashFn(directory, config), "doc").with_outputs(DEDUP_REFS,
                                                                            main="e"))
    kept, exact_drops, _ = stashed[DEDUP_REFS] | ExactDedupRefs(directory)
    near_drops, _ = kept | NearDedupRefs(config, directory)
    ((exact_drops, near_drops) | beam.Flatten() | beam.combiners.ToList()
     | beam.Map(_save(out)))
    p.run().wait_until_finish()
    with open(out, "rb") as f:
        drops = pickle.load(f)
    removed = []
    for (source, unit), (_, pos, loc, (reason, kept_id, _)) in drops:
        assert stash.read_at(os.path.join(directory, loc[0]), loc[1], loc[2])["id"] == \
            at[(source, unit, pos)]
        removed.append((at[(source, unit, pos)], reason, kept_id))
    return sorted(removed)


@pytest.mark.parametrize("keep", ["smallest_id", "preferred_role"])
def test_same_decisions_as_the_document_transforms(keep):
    docs, _ = make_corpus(n=60)
    config = DedupConfig(keep=keep, near=NearConfig(component_rounds=4))
    legacy = run_dedup(docs, config)
    expected = sorted((r["id"], r["reason"], r["meta"]["duplicate_of"])
                      for r in legacy["rejected"])
    assert expected  # the corpus has both kinds of copies
    assert {r for _, r, _ in expected} == {"dedup.exact", "dedup.near"}
    assert run_by_ref(docs, config) == expected


def test_a_bucket_past_the_exhaustive_size_pairs_byte_handles_with_anchors():
    from pipeline.dedup.candidates import bucket_pairs

    members = [i.to_bytes(8, "big") for i in range(60)]  # handles are 8 bytes
    pairs, size, capped = bucket_pairs(b"band-key", members, max_exhaustive=50, anchors=8)
    pairs = list(pairs)
    assert (size, capped) == (60, True)
    assert all(a < b for a, b in pairs)
    assert len({m for pair in pairs for m in pair}) == 60
