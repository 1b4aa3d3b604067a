"""The sources spec: valid specs resolve stages as documented; invalid ones fail early with
the key that is wrong and what was expected."""

import pytest
import yaml

from pipeline import stage_registry
from pipeline.spec import SpecError, load_spec, parse_spec


def _spec(**source_overrides):
    source = {"name": "web", "role": "webpages", "format": "jsonl", "paths": ["raw/*.jsonl"]}
    source.update(source_overrides)
    return {"sources": [source]}


def test_defaults_for_prose_and_code():
    spec = parse_spec({"sources": [
        {"name": "web", "role": "webpages", "format": "jsonl", "paths": ["a.jsonl"]},
        {"name": "gh", "role": "code", "format": "code_dir", "paths": ["src"]},
    ]}, base_dir="/data")
    web, code = spec.sources
    assert [s for s, _ in web.stages] == [s for s in stage_registry.STAGES
                                          if s in stage_registry.DEFAULTS_PROSE]
    assert "c4" in dict(web.stages)
    assert [s for s, _ in code.stages] == ["normalize", "code", "pii"]
    assert code.stage_params("normalize") == {"keep_indentation": True}
    assert web.paths == ("/data/a.jsonl",)


def test_c4_runs_by_default_on_crawled_roles_only():
    spec = parse_spec({"sources": [
        {"name": "chat", "role": "conversations", "format": "jsonl", "paths": ["a.jsonl"]},
        {"name": "books", "role": "books", "format": "jsonl", "paths": ["b.jsonl"],
         "stages": {"c4": True}},
    ]})
    chat, books = spec.sources
    assert "c4" not in dict(chat.stages) and "gopher_quality" in dict(chat.stages)
    assert "c4" in dict(books.stages)


def test_overrides_global_then_source():
    raw = _spec(stages={"c4": False, "langid": {"min_score": 0.9}})
    raw["stages"] = {"langid": {"min_score": 0.5, "max_chars": 500}, "pii": False}
    (source,) = parse_spec(raw).sources
    names = [s for s, _ in source.stages]
    assert "c4" not in names and "pii" not in names
    assert source.stage_params("langid") == {"min_score": 0.9, "max_chars": 500}


def test_config_hash_changes_with_config_only():
    a = parse_spec(_spec(), path="one.yaml").sources[0]
    spec_a = parse_spec(_spec(), path="one.yaml")
    spec_b = parse_spec(_spec(), path="two.yaml")
    spec_c = parse_spec(_spec(stages={"c4": False}))
    assert spec_a.source_config_hash(a) == spec_b.source_config_hash(spec_b.sources[0])
    assert spec_a.source_config_hash(a) != spec_c.source_config_hash(spec_c.sources[0])


@pytest.mark.parametrize("raw, where, what", [
    ([], "", "expected a mapping"),
    ({"sources": []}, "sources", "non-empty list"),
    ({"sorces": []}, "sorces", "unknown key"),
    (_spec(format="jsonll"), "sources[0].format", "is not one of"),
    (_spec(paths=[]), "sources[0].paths", "non-empty list"),
    (_spec(name="a/b"), "sources[0].name", "letters, digits"),
    (_spec(stages={"gopher": True}), "sources[0].stages.gopher", "unknown stage"),
    (_spec(stages={"gopher_quality": {"min_wrds": 3}}),
     "sources[0].stages.gopher_quality.min_wrds", "unknown parameter"),
    (_spec(stages={"gopher_quality": {"min_words": "many"}}),
     "sources[0].stages.gopher_quality.min_words", "expected int"),
    (_spec(languages="en") | {"validation_fraction": 2}, "validation_fraction", "between 0 and 1"),
    ({"sources": [_spec()["sources"][0], _spec()["sources"][0]]}, "sources[1].name",
     "already used"),
    (_spec(format="tfds", paths=None), "sources[0].dataset", "missing"),
])
def test_invalid_specs_name_the_key(raw, where, what):
    with pytest.raises(SpecError) as err:
        parse_spec(raw, path="spec.yaml")
    message = str(err.value)
    assert message.startswith(f"spec.yaml: {where}"), message
    assert what in message


def test_load_spec_reports_file_problems(tmp_path):
    with pytest.raises(SpecError, match="not found"):
        load_spec(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(str(bad))
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(_spec()))
    assert load_spec(str(good)).sources[0].paths == (str(tmp_path / "raw/*.jsonl"),)
