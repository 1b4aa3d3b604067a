"""The spec's `dedup:` section: defaults, switches, validation errors that name the key, and
config hashes that tie every source to the others while dedup is on."""

import pytest

from pipeline.spec import SpecError, parse_spec


def _spec(dedup=None, extra_source=None):
    sources = [{"name": "web", "role": "webpages", "format": "jsonl", "paths": ["a.jsonl"]},
               {"name": "books", "role": "books", "format": "jsonl", "paths": ["b.jsonl"]}]
    if extra_source:
        sources[1].update(extra_source)
    raw = {"sources": sources}
    if dedup is not None:
        raw["dedup"] = dedup
    return parse_spec(raw, path="s.yaml")


def test_dedup_is_on_by_default_with_documented_values():
    d = _spec().dedup
    assert d.enabled and d.keep == "smallest_id"
    assert d.exact.lowercase and d.exact.collapse_whitespace and not d.exact.strip_punctuation
    assert (d.near.shingle, d.near.ngram, d.near.num_perm, d.near.threshold) == \
        ("word", 5, 128, 0.8)
    assert d.to_json()["near"]["effective_bands"] * d.to_json()["near"]["effective_rows"] <= 128


def test_switches_and_overrides():
    assert _spec(False).dedup is None  # off: no config, no stage
    assert _spec({"exact": False, "near": False}).dedup is None
    d = _spec({"exact": False, "near": {"threshold": 0.7, "shingle": "char", "ngram": 7,
                                       "bands": 16, "rows": 8}, "keep": "quality_score"}).dedup
    assert d.exact is None and d.near.bands_rows() == (16, 8) and d.near.shingle == "char"
    assert _spec({"near": False}).dedup.near is None
    assert _spec({"role_preference": ["code", "books"], "keep": "preferred_role"}).dedup \
        .role_preference == ("code", "books")


@pytest.mark.parametrize("dedup, key, words", [
    ({"keep": "largest"}, "dedup.keep", "not one of"),
    ({"exact": {"lowercase": "yes"}}, "dedup.exact.lowercase", "expected true or false"),
    ({"exact": {"casefold": True}}, "dedup.exact.casefold", "unknown key"),
    ({"near": {"threshold": 1.5}}, "dedup.near.threshold", "<= 1.0"),
    ({"near": {"threshold": 0}}, "dedup.near.threshold", "> 0.0"),
    ({"near": {"shingle": "sentence"}}, "dedup.near.shingle", "not one of"),
    ({"near": {"num_perm": 0}}, "dedup.near.num_perm", ">= 1"),
    ({"near": {"bands": 20}}, "dedup.near.rows", "both bands and rows"),
    ({"near": {"bands": 20, "rows": 8}}, "dedup.near.bands", "exceeds num_perm"),
    ({"near": "fast"}, "dedup.near", "expected true, false or a mapping"),
    ({"nearest": {}}, "dedup.nearest", "unknown key"),
    ({"role_preference": ["books", "books"]}, "dedup.role_preference", "twice"),
    ("on", "dedup", "expected true, false or a mapping"),
])
def test_invalid_dedup_sections_name_the_key(dedup, key, words):
    with pytest.raises(SpecError) as e:
        _spec(dedup)
    assert str(e.value).startswith(f"s.yaml: {key}: ") and words in str(e.value)


def test_reserved_source_name():
    with pytest.raises(SpecError, match=r"sources\[1\].name: 'dedup' is reserved"):
        _spec(extra_source={"name": "dedup"})


def test_config_hash_covers_every_source_while_dedup_is_on():
    base, changed = _spec(), _spec(extra_source={"paths": ["c.jsonl"]})
    web = base.sources[0]
    assert base.source_config_hash(web) != changed.source_config_hash(changed.sources[0])
    assert _spec({"near": {"threshold": 0.9}}).source_config_hash(web) != \
        base.source_config_hash(web)
    off, off_changed = _spec(False), _spec(False, extra_source={"paths": ["c.jsonl"]})
    assert off.source_config_hash(off.sources[0]) == \
        off_changed.source_config_hash(off_changed.sources[0])
