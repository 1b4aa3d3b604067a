"""Decontamination: planted 13-gram overlaps are caught and nothing else; the hashed index agrees
with an exact set-of-tuples reference on random texts; flag vs remove; bad eval sets and bad
config are reported before the pipeline runs, naming the file, line or key."""

import gzip
import json
import os
import random
from unittest import mock

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import decontamination as dc
from pipeline.corpus_stage import write_summaries
from pipeline.document import make_document
from pipeline.spec import SpecError

WORDS = [f"w{i}" for i in range(400)]


def _text(rng: random.Random, n: int, vocab=WORDS) -> str:
    return " ".join(rng.choice(vocab) for _ in range(n))


def _index(eval_sets: dict[str, list[str]], ngram: int = 13, min_words: int = 8) -> dc.EvalIndex:
    return dc.EvalIndex.build(dc.hash_eval_set(name, texts, ngram, min_words)
                              for name, texts in eval_sets.items())


def reference(doc: str, eval_sets: dict[str, list[str]], ngram: int, min_words: int):
    """The definition, spelled out with Python sets of word tuples."""
    doc_words = dc.words(doc)
    matched = []
    for name in sorted(eval_sets):
        grams = set()
        for text in eval_sets[name]:
            w = dc.words(text)
            if len(w) >= ngram:
                grams |= {tuple(w[i:i + ngram]) for i in range(len(w) - ngram + 1)}
            elif len(w) >= min_words:
                grams.add(tuple(w))
        lengths = {len(g) for g in grams}
        if any(tuple(doc_words[i:i + k]) in grams
               for k in lengths for i in range(len(doc_words) - k + 1)):
            matched.append(name)
    return tuple(matched)


def test_normalisation():
    assert dc.normalize("  Hello, World!\tIt's  Ünïcode_text—OK.  ") == \
        "hello world it s ünïcode text ok"
    assert dc.words("") == [] and dc.words("...!?") == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=5))
def test_fast_word_split_equals_the_definition(texts):
    """ASCII text is split byte-wise in numpy; it must give exactly the words of `normalize`."""
    batch = dc.batch_words(texts)
    assert batch.counts.tolist() == [len(dc.words(t)) for t in texts]
    every_word = [w for t in texts for w in dc.words(t)]
    one_by_one = [dc.batch_words([w]).hashes.tolist() for w in every_word]
    assert one_by_one == [[h] for h in batch.hashes.tolist()]
    assert dc.batch_words([dc.normalize(t) for t in texts]).hashes.tolist() == \
        batch.hashes.tolist()


def test_planted_13gram_is_caught_and_12_shared_words_are_not():
    rng = random.Random(0)
    eval_text = _text(rng, 40)
    eval_words = eval_text.split()
    index = _index({"lambada": [eval_text]})
    planted = _text(rng, 30) + " " + " ".join(eval_words[10:23]) + " " + _text(rng, 30)
    # 12 words of the eval text in a row, then a word that breaks the run
    near_miss = (_text(rng, 30) + " " + " ".join(eval_words[10:22]) + " notinvocab "
                 + " ".join(eval_words[23:34]) + " " + _text(rng, 30))
    # the planted words in another case and punctuation still match
    styled = ", ".join(w.upper() for w in eval_words[0:13]) + "!"
    unrelated = _text(rng, 200)
    got = index.match_batch([planted, near_miss, styled, unrelated])
    assert got == [("lambada",), (), ("lambada",), ()]
    assert [reference(d, {"lambada": [eval_text]}, 13, 8)
            for d in (planted, near_miss, styled, unrelated)] == got


def test_short_eval_texts_match_whole_or_are_skipped():
    rng = random.Random(1)
    question = "who wrote the origin of species in eighteen fifty nine"  # 10 words < 13
    tiny = "the united states"                                          # 3 words < min_words
    hashes = dc.hash_eval_set("qa", [question, tiny], 13, 8)
    assert (hashes.texts, hashes.texts_whole, hashes.texts_too_short) == (2, 1, 1)
    index = dc.EvalIndex.build([hashes])
    with_question = _text(rng, 20) + " Who wrote 'The Origin of Species' in eighteen fifty-nine? " \
        + _text(rng, 20)
    partial = _text(rng, 20) + " who wrote the origin of species in eighteen " + _text(rng, 20)
    with_tiny = _text(rng, 20) + " the united states " + _text(rng, 20)
    assert index.match_batch([with_question, partial, with_tiny]) == [("qa",), (), ()]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), ngram=st.sampled_from([2, 3, 5, 13]),
       min_words=st.integers(1, 5), vocab_size=st.integers(2, 12))
def test_hashed_index_agrees_with_the_exact_definition(seed, ngram, min_words, vocab_size):
    rng = random.Random(seed)
    vocab = [f"v{i}" for i in range(vocab_size)] + ["Ab,", "ab", "B.c", "Été", "été—x", "ß_1"]
    min_words = min(min_words, ngram)
    eval_sets = {f"set{j}": [_text(rng, rng.randint(0, 30), vocab)
                             for _ in range(rng.randint(1, 4))] for j in range(rng.randint(1, 3))}
    docs = [_text(rng, rng.randint(0, 40), vocab) for _ in range(8)]
    index = _index(eval_sets, ngram, min_words)
    assert index.match_batch(docs) == [reference(d, eval_sets, ngram, min_words) for d in docs]
    # batching does not change any answer, nor does hashing a batch a few texts at a time
    assert [index.match_batch([d])[0] for d in docs] == index.match_batch(docs)
    with mock.patch.object(dc, "MATCH_CHARS", rng.randint(1, 120)):
        assert index.match_batch(docs) == [reference(d, eval_sets, ngram, min_words)
                                           for d in docs]


def test_an_ngram_in_two_sets_names_both():
    rng = random.Random(2)
    shared = _text(rng, 13)
    index = _index({"b_set": [shared + " " + _text(rng, 5)],
                    "a_set": [_text(rng, 3) + " " + shared],
                    "c_set": [_text(rng, 20)]})
    assert index.match_batch([shared]) == [("a_set", "b_set")]


# ---------------------------------------------------------------------------------------------
# The Beam stage.

def _write_jsonl(path, texts, field="text", gz=False):
    data = "".join(json.dumps({field: t, "id": i}) + "\n" for i, t in enumerate(texts))
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return str(path)


@pytest.fixture
def corpus(tmp_path):
    rng = random.Random(3)
    evals = {"lambada": [_text(rng, 60) for _ in range(20)],
             "trivia": [_text(rng, 9) for _ in range(20)] + [_text(rng, 30) for _ in range(5)]}
    _write_jsonl(tmp_path / "lambada.jsonl", evals["lambada"], field="question")
    _write_jsonl(tmp_path / "trivia.jsonl.gz", evals["trivia"], field="question", gz=True)
    docs, truth = [], {}
    for source in ("web", "books"):
        for i in range(40):
            text = _text(rng, 120)
            expected = []
            if i % 5 == 0:  # plant a 13-gram of a lambada passage
                words = rng.choice(evals["lambada"]).split()
                start = rng.randint(0, len(words) - 13)
                text += " " + " ".join(words[start:start + 13]) + " " + _text(rng, 10)
                expected.append("lambada")
            if i % 8 == 0:  # plant a whole short trivia question
                text = rng.choice(evals["trivia"][:20]) + ". " + text
                expected.append("trivia")
            doc = make_document(source=source, role=source, location=f"{source}{i}", text=text)
            docs.append(doc)
            truth[doc["id"]] = tuple(sorted(expected))
    return docs, truth, evals


def _run(docs, config, stats_dir):
    p = beam.Pipeline(options=PipelineOptions(["--direct_running_mode=in_memory"]))
    kept, rejected, summaries = p | beam.Create(docs) | dc.Decontaminate(config)
    write_summaries(summaries, str(stats_dir))
    out_dir = os.path.join(str(stats_dir), "out")
    for name, pcoll in (("kept", kept), ("rejected", rejected)):
        (pcoll | f"{name}_json" >> beam.Map(json.dumps, sort_keys=True)
         | f"{name}_write" >> beam.io.WriteToText(os.path.join(out_dir, name)))
    result = p.run()
    result.wait_until_finish()
    out = {}
    for name in ("kept", "rejected"):
        out[name] = []
        for f in sorted(os.listdir(out_dir)):
            if f.startswith(name + "-"):
                with open(os.path.join(out_dir, f)) as fh:
                    out[name] += [json.loads(line) for line in fh]
    counters = {(c.key.metric.namespace, c.key.metric.name): c.committed
                for c in result.metrics().query(MetricsFilter())["counters"]}
    return out, counters


@pytest.mark.parametrize("action, apply_to", [("remove", None), ("flag", ["books"])])
def test_stage_removes_or_flags_planted_documents(action, apply_to, corpus, tmp_path):
    docs, truth, _ = corpus
    config = dc.DecontaminationConfig.from_mapping(
        {"eval_sets": {"trivia": "trivia.jsonl.gz", "lambada": "lambada.jsonl"},
         "text_field": "question", "action": action, "apply_to": apply_to},
        base_dir=str(tmp_path))
    assert config.names == ("lambada", "trivia")
    checked_sources = ["books", "web"] if apply_to is None else apply_to
    checked = {d["id"] for d in docs if d["source"] in checked_sources}
    out, counters = _run(docs, config, tmp_path / "stats")
    contaminated = {d["id"]: tuple(d["meta"]["contaminated_by"])
                    for d in out["kept"] + out["rejected"] if "contaminated_by" in d["meta"]}
    assert contaminated == {i: sets for i, sets in truth.items() if sets and i in checked}
    if action == "remove":
        assert len(out["kept"]) == sum(not s for s in truth.values())
        assert all(r["reason"] == f"decontamination.{r['meta']['contaminated_by'][0]}"
                   for r in out["rejected"])
        assert counters[("prep.web", "drop.decontamination.lambada")] == sum(
            r["reason"] == "decontamination.lambada" and r["source"] == "web"
            for r in out["rejected"])
    else:
        assert out["rejected"] == [] and len(out["kept"]) == len(docs)
    stats = json.loads((tmp_path / "stats" / "decontamination.json").read_text())
    assert sorted(stats["sources"]) == checked_sources
    for source in checked_sources:
        ids = {d["id"] for d in docs if d["source"] == source}
        for name in ("lambada", "trivia"):
            expected = sum(name in truth[i] for i in ids)
            assert expected > 0
            assert stats["sources"][source]["by_eval_set"][name] == expected
            assert counters.get((f"prep.{source}", f"contamination.{name}"), 0) == expected
        assert stats["sources"][source]["checked"] == 40
    assert stats["eval_sets"]["trivia"]["texts_matched_whole"] == 20
    assert stats["eval_sets"]["lambada"]["texts"] == 20


def test_fingerprint_changes_with_an_eval_set_file(tmp_path):
    _write_jsonl(tmp_path / "a.jsonl", ["one two three four five six seven eight"])
    config = dc.DecontaminationConfig.from_mapping({"eval_sets": {"a": "a.jsonl"}},
                                                   base_dir=str(tmp_path))
    before = config.fingerprint()
    _write_jsonl(tmp_path / "a.jsonl", ["one two three four five six seven nine"])
    assert config.fingerprint() != before
    assert config.fingerprint()["eval_sets"] == before["eval_sets"]


def test_contamination_chart_renders():
    from pipeline.corpus_stage_charts import contamination_chart
    stats = {"ngram": 13, "action": "remove", "eval_sets": {"a": {}, "b": {}},
             "sources": {"web": {"by_eval_set": {"a": 3, "b": 0}},
                         "books": {"by_eval_set": {"a": 1, "b": 2}}}}
    assert contamination_chart(stats).startswith(b"\x89PNG")


# ---------------------------------------------------------------------------------------------
# Bad eval sets and bad config: errors before the pipeline runs.

def _decontaminate(tmp_path, eval_sets, **extra):
    config = dc.DecontaminationConfig.from_mapping({"eval_sets": eval_sets, **extra},
                                                   base_dir=str(tmp_path))
    return dc.Decontaminate(config)


def test_missing_eval_set_names_the_file(tmp_path):
    with pytest.raises(SpecError,
                       match=r"decontamination\.eval_sets\.gone: cannot read .*gone\.jsonl"):
        _decontaminate(tmp_path, {"gone": "gone.jsonl"})


@pytest.mark.parametrize("content, message", [
    ('{"text": "fine"}\n{"text": broken\n', r"bad\.jsonl:2 \(eval set bad\): not valid JSON"),
    ('{"text": "fine"}\n\n{"other": "x"}\n', r"bad\.jsonl:3 \(eval set bad\): expected a JSON "
                                             r"object with a string field 'text'"),
    ('["text"]\n', r"bad\.jsonl:1 .*expected a JSON object"),
    ("\n\n", r"bad\.jsonl \(eval set bad\): no texts"),
])
def test_malformed_eval_set_names_file_and_line(tmp_path, content, message):
    (tmp_path / "bad.jsonl").write_text(content)
    with pytest.raises(SpecError, match=message):
        _decontaminate(tmp_path, {"bad": "bad.jsonl"})


def test_eval_set_that_is_not_utf8(tmp_path):
    (tmp_path / "latin.jsonl").write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(SpecError, match=r"latin\.jsonl:1 \(eval set latin\): not UTF-8"):
        _decontaminate(tmp_path, {"latin": "latin.jsonl"})


@pytest.mark.parametrize("section, key", [
    ({}, "decontamination.eval_sets"),
    ({"eval_sets": ["a.jsonl"]}, "decontamination.eval_sets"),
    ({"eval_sets": {"bad name": "a.jsonl"}}, r"decontamination.eval_sets.bad name"),
    ({"eval_sets": {"a": 3}}, "decontamination.eval_sets.a"),
    ({"eval_sets": {"a": "a.jsonl"}, "ngram": 0}, "decontamination.ngram"),
    ({"eval_sets": {"a": "a.jsonl"}, "ngram": 5, "min_words": 6}, "decontamination.min_words"),
    ({"eval_sets": {"a": "a.jsonl"}, "action": "delete"}, "decontamination.action"),
    ({"eval_sets": {"a": "a.jsonl"}, "apply_to": []}, "decontamination.apply_to"),
    ({"eval_sets": {"a": "a.jsonl"}, "n_gram": 13}, "decontamination.n_gram"),
])
def test_config_errors_name_the_key(section, key):
    with pytest.raises(SpecError, match=key.replace(".", r"\.") + ":"):
        dc.DecontaminationConfig.from_mapping(section)


def test_config_defaults_and_source_check(tmp_path):
    config = dc.DecontaminationConfig.from_mapping({"eval_sets": {"x": "evals/x.jsonl"}},
                                                   base_dir="/specs")
    assert (config.ngram, config.min_words, config.action, config.apply_to, config.text_field) \
        == (13, 8, "remove", None, "text")
    assert config.eval_sets == (("x", os.path.normpath("/specs/evals/x.jsonl")),)
    config.check_sources(["web"])
    with_apply = dc.DecontaminationConfig.from_mapping({"eval_sets": {"x": "x.jsonl"},
                                                        "apply_to": ["wbe"]})
    with pytest.raises(SpecError, match=r"decontamination\.apply_to: 'wbe' is not a source"):
        with_apply.check_sources(["web"])
