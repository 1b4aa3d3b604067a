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
from hypothesis import given, settings
from hypothesis import strategies as st
from test_dedup_pipeline import make_corpus, run_dedup

from pipeline import stash
from pipeline.by_reference import CHUNKS, EXACT_KEYS, StashFn
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
               | beam.ParDo(StashFn(directory, config), "doc").with_outputs(
                   EXACT_KEYS, CHUNKS, main="e"))
    exact_drops, dropped, _ = stashed[EXACT_KEYS] | ExactDedupRefs(directory)
    near_drops, _ = (stashed[CHUNKS], dropped) | NearDedupRefs(config, directory)
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

    members = [i.to_bytes(12, "big") for i in range(60)]  # handles are 12 bytes
    pairs, size, capped = bucket_pairs(b"band-key", members, max_exhaustive=50, anchors=8)
    pairs = list(pairs)
    assert (size, capped) == (60, True)
    assert all(a < b for a, b in pairs)
    assert len({m for pair in pairs for m in pair}) == 60


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=8, max_size=8),
                          st.integers(0, 300), st.integers(0, (1 << 24) - 1)), max_size=400),
       st.sampled_from([5, 7]))
def test_packed_records_come_back_sorted_with_their_chunks_and_rows(records, key_bytes):
    """Whatever a bundle packs (many chunks per partition: the 255-slot table overflows),
    the receiving side gets every record back: the key's first 1 + key_bytes bytes, its chunk
    id and row, sorted by key then handle."""
    from pipeline.dedup.by_ref import RefPacker, unpack

    chunk_ids = {c: (c * 0x9E3779B97F4A7C15) % (1 << 64) for _, c, _ in records}
    packer = RefPacker(key_bytes)
    packs: dict[int, list[bytes]] = {}
    for key, chunk, row in records:
        for partition, pack in packer.add(key, chunk_ids[chunk], row):
            packs.setdefault(partition, []).append(pack)
    for windowed in packer.flush():
        partition, pack = windowed.value
        packs.setdefault(partition, []).append(pack)
    got = []
    for partition, blobs in packs.items():
        keys, chunks, rows = unpack(partition, blobs, key_bytes)
        triples = list(zip(keys.tolist(), chunks.tolist(), rows.tolist()))
        assert triples == sorted(triples)
        got += triples
    expected = sorted((int.from_bytes(key[:1 + key_bytes], "big"), chunk_ids[c], row)
                      for key, c, row in records)
    assert sorted(got) == expected


def test_a_partition_with_more_chunks_than_a_pack_table_holds_is_sent_in_several_packs():
    from pipeline.dedup.by_ref import RefPacker, unpack

    packer = RefPacker(5)
    records = [(bytes([7]) + i.to_bytes(7, "big"), 1000 + i % 300, i) for i in range(900)]
    packs = [pack for key, chunk, row in records for _, pack in packer.add(key, chunk, row)]
    packs += [w.value[1] for w in packer.flush()]
    assert len(packs) >= 2 and all(pack[0] <= 255 for pack in packs)
    keys, chunks, rows = unpack(7, packs, 5)
    assert sorted(zip(rows.tolist(), chunks.tolist())) == [(r, c) for _, c, r in records]


def test_side_files_give_any_row_by_handle_with_few_kept_open(tmp_path):
    """A row read by handle (one seek) equals the row read with its whole side file, across
    more chunks than the reader keeps open."""
    from pipeline.dedup.by_ref import SidecarRows, Sidecars

    config = DedupConfig()
    writers = {}
    for c in range(5):
        side = SidecarRows(config, frozenset(), "web", c)
        for i in range(7):
            doc = {"id": f"d{c}-{i}", "source": "web", "role": "webpages", "_at": (c, i),
                   "text": f"document {c} {i} " + "words here and there " * (i + 1)}
            side.add(doc, ("x.chunk", 100 * i, 50))
        side.write(str(tmp_path), 1000 + c)
        writers[1000 + c] = side.rows
    sidecars = Sidecars(str(tmp_path), keep=2)
    for c in (1000, 1003, 1001, 1004, 1000, 1002):
        assert sidecars.all_rows(c) == writers[c]
        for row in (6, 0, 3):
            r, node = sidecars.lookup(c, row)
            assert r == writers[c][row]
            assert node.split("\x00")[1:4] == ["web", f"{c - 1000:06d}", f"{row:09d}"]
    sidecars.close()
