"""The sources spec: valid specs resolve steps as documented; invalid ones fail early with
the key that is wrong and what was expected."""

import pytest
import yaml

from pipeline import registry
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
    assert [s for s, _ in web.steps] == [s for s in registry.STEPS
                                          if s in registry.DEFAULTS_PROSE]
    assert "c4" in dict(web.steps)
    assert [s for s, _ in code.steps] == ["normalize", "code", "pii"]
    assert code.step_params("normalize") == {"keep_indentation": True}
    assert web.paths == ("/data/a.jsonl",)


def test_c4_runs_by_default_on_crawled_roles_only():
    spec = parse_spec({"sources": [
        {"name": "chat", "role": "conversations", "format": "jsonl", "paths": ["a.jsonl"]},
        {"name": "books", "role": "books", "format": "jsonl", "paths": ["b.jsonl"],
         "steps": {"c4": True}},
    ]})
    chat, books = spec.sources
    assert "c4" not in dict(chat.steps) and "gopher_quality" in dict(chat.steps)
    assert "c4" in dict(books.steps)


def test_overrides_global_then_source():
    raw = _spec(steps={"c4": False, "langid": {"min_score": 0.9}})
    raw["steps"] = {"langid": {"min_score": 0.5, "max_chars": 500}, "pii": False}
    (source,) = parse_spec(raw).sources
    names = [s for s, _ in source.steps]
    assert "c4" not in names and "pii" not in names
    assert source.step_params("langid") == {"min_score": 0.9, "max_chars": 500}


def test_old_key_stages_reads_as_steps(caplog):
    raw = _spec(stages={"c4": False, "langid": {"min_score": 0.9}})
    raw["stages"] = {"pii": False}
    with caplog.at_level("WARNING", logger="pipeline.spec"):
        old = parse_spec(raw, path="old.yaml")
    new = parse_spec(_spec(steps={"c4": False, "langid": {"min_score": 0.9}}) | {
        "steps": {"pii": False}}, path="old.yaml")
    assert old.sources[0].steps == new.sources[0].steps
    assert old.source_config_hash(old.sources[0]) == new.source_config_hash(new.sources[0])
    said = [r.getMessage() for r in caplog.records]
    assert any("old.yaml: stages: is the old name of steps:" in m for m in said)
    assert any("sources[0].stages: is the old name of sources[0].steps:" in m for m in said)
    assert "stages" in raw and "stages" in raw["sources"][0]  # the caller's mapping is kept
    with pytest.raises(SpecError, match="both 'steps' and its old name 'stages'"):
        parse_spec(_spec(stages={}, steps={}))


def test_config_hash_changes_with_config_only():
    a = parse_spec(_spec(), path="one.yaml").sources[0]
    spec_a = parse_spec(_spec(), path="one.yaml")
    spec_b = parse_spec(_spec(), path="two.yaml")
    spec_c = parse_spec(_spec(steps={"c4": False}))
    assert spec_a.source_config_hash(a) == spec_b.source_config_hash(spec_b.sources[0])
    assert spec_a.source_config_hash(a) != spec_c.source_config_hash(spec_c.sources[0])


@pytest.mark.parametrize("raw, where, what", [
    ([], "", "expected a mapping"),
    ({"sources": []}, "sources", "non-empty list"),
    ({"sorces": []}, "sorces", "unknown key"),
    (_spec(format="jsonll"), "sources[0].format", "is not one of"),
    (_spec(paths=[]), "sources[0].paths", "non-empty list"),
    (_spec(name="a/b"), "sources[0].name", "letters, digits"),
    (_spec(steps={"gopher": True}), "sources[0].steps.gopher", "unknown key; expected one "
     "of boilerplate, c4"),
    (_spec(steps={"gopher_quality": {"min_wrds": 3}}),
     "sources[0].steps.gopher_quality.min_wrds", "unknown key; expected one of"),
    (_spec(steps={"gopher_quality": {"min_words": "many"}}),
     "sources[0].steps.gopher_quality.min_words", "expected an integer, got str"),
    (_spec(steps={"c4": "on"}), "sources[0].steps.c4", "expected true, false or a mapping"),
    (_spec(languages="en") | {"validation_fraction": 2}, "validation_fraction",
     "expected a value <= 1.0"),
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


def _two_sources(**sections):
    raw = {"sources": [
        {"name": "web", "role": "webpages", "format": "jsonl", "paths": ["raw/*.jsonl"]},
        {"name": "books", "role": "books", "format": "jsonl", "paths": ["b/*.jsonl"]}]}
    raw.update(sections)
    return raw


_QC = {"positive_sources": ["books"], "negative_sources": ["web"], "apply_to": ["web"]}


@pytest.mark.parametrize("section, where, what", [
    ({"quality_classifier": _QC | {"keep": "best"}}, "quality_classifier.keep", "best"),
    ({"quality_classifier": _QC | {"apply_to": ["webb"]}}, "quality_classifier.apply_to",
     "webb"),
    ({"quality_classifier": _QC | {"pareto_alpa": 9}}, "quality_classifier.pareto_alpa", ""),
    ({"quality_classifier": _QC | {"negative_sources": ["books"]}},
     "quality_classifier.negative_sources", "books"),
    ({"decontamination": {"eval_sets": {}}}, "decontamination.eval_sets", "non-empty"),
    ({"decontamination": {"eval_sets": {"x": "x.jsonl"}, "action": "drop"}},
     "decontamination.action", "drop"),
    ({"decontamination": {"eval_sets": {"x": "x.jsonl"}, "apply_to": ["news"]}},
     "decontamination.apply_to", "news"),
    ({"decontamination": {"eval_sets": {"x": "x.jsonl"}, "ngrams": 13}},
     "decontamination.ngrams", ""),
])
def test_bad_corpus_stage_sections_name_the_file_and_key(section, where, what):
    with pytest.raises(SpecError) as err:
        parse_spec(_two_sources(**section), path="spec.yaml")
    message = str(err.value)
    assert message.startswith(f"spec.yaml: {where}"), message
    assert what in message


def test_corpus_stage_sections_parse_and_tie_the_config_hashes(tmp_path):
    evals = tmp_path / "evals.jsonl"
    evals.write_text('{"text": "one two three four five six seven eight nine ten"}\n')
    plain = parse_spec(_two_sources(dedup=False))
    assert plain.quality_classifier is None and plain.decontamination is None
    assert not plain.corpus_stages_on
    spec = parse_spec(_two_sources(dedup=False, quality_classifier=_QC,
                                   decontamination={"eval_sets": {"ev": "evals.jsonl"}}),
                      base_dir=str(tmp_path))
    assert spec.corpus_stages_on
    assert spec.quality_classifier.apply_to == ("web",)
    assert spec.decontamination.eval_sets == (("ev", str(evals)),)
    web = spec.sources[0]
    before = spec.source_config_hash(web)
    assert before != plain.source_config_hash(plain.sources[0])
    # Another source's config is part of every source's hash once a corpus stage is on.
    other = parse_spec(_two_sources(dedup=False, quality_classifier=_QC,
                                    decontamination={"eval_sets": {"ev": "evals.jsonl"}})
                       | {"seed": 0}, base_dir=str(tmp_path))
    assert other.source_config_hash(other.sources[0]) == before
    changed_books = _two_sources(dedup=False, quality_classifier=_QC,
                                 decontamination={"eval_sets": {"ev": "evals.jsonl"}})
    changed_books["sources"][1]["steps"] = {"gopher_quality": False}
    changed = parse_spec(changed_books, base_dir=str(tmp_path))
    assert changed.source_config_hash(changed.sources[0]) != before
    # Editing the evaluation set's file (not the spec) changes the hash too.
    evals.write_text('{"text": "eleven twelve thirteen fourteen fifteen sixteen seventeen"}\n')
    assert spec.source_config_hash(web) != before


def test_corpus_stage_folders_are_reserved_names():
    for name in ("quality_classifier", "decontamination", "dedup"):
        with pytest.raises(SpecError, match="reserved"):
            parse_spec(_spec(name=name), path="spec.yaml")
