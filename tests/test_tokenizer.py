"""pipeline.train_tokenizer: the Beam sample, PaLM's SentencePiece settings, lossless round
trips."""

import json
import logging
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import train_tokenizer

# The `demo` fixture (corpus -> prep -> vocabulary, once per session) is in tests/conftest.py.


@pytest.fixture(scope="session")
def sp(demo):
    import sentencepiece as spm

    return spm.SentencePieceProcessor(model_file=demo["model"])


def test_manifest_records_sample_settings_and_hash(demo):
    m = demo["manifest"]
    on_disk = json.load(open(os.path.join(demo["tok"], "manifest.json")))
    assert on_disk["model_sha256"] == train_tokenizer.sha256(demo["model"]) == m["model_sha256"]
    assert os.path.exists(os.path.join(demo["tok"], "spm.vocab"))
    s = m["settings"]
    assert (s["split_digits"], s["byte_fallback"], s["add_dummy_prefix"],
            s["remove_extra_whitespaces"], s["allow_whitespace_only_pieces"]) == (
        True, True, False, False, True)
    sample = m["sample"]
    assert sample["method"] == "capping" and sample["capped_target_bytes"] <= sample["target_bytes"]
    assert sample["bytes"] == sum(v["bytes"] for v in sample["per_source"].values()) > 0
    # Sources big enough for their share get about weight * target bytes (documents are whole).
    for name, rate in sample["rates"].items():
        if rate < 1.0:
            expected = sample["weights"][name] * sample["target_bytes"]
            assert sample["per_source"].get(name, {"bytes": 0})["bytes"] < 3 * expected + 50_000


def test_sampling_rates_follow_weights():
    # c holds 10 bytes for a 10 % share: the sample is capped at 100 bytes (capping method).
    rates = train_tokenizer.sampling_rates({"a": 1000, "b": 4000, "c": 10},
                                           {"a": 0.5, "b": 0.4, "c": 0.1}, 1000)
    assert rates == pytest.approx({"a": 0.05, "b": 0.01, "c": 1.0})
    assert train_tokenizer.capped_sample_bytes({"a": 1000, "b": 4000, "c": 10},
                                               {"a": 0.5, "b": 0.4, "c": 0.1}, 1000) == (
        pytest.approx(100.0), "c")
    rates = train_tokenizer.sampling_rates({"a": 1000, "b": 4000}, {"a": 0.5, "b": 0.5}, 1000)
    assert rates == {"a": 0.5, "b": 0.125}
    with pytest.raises(train_tokenizer.TokenizerError, match="'b' has weight"):
        train_tokenizer.sampling_rates({"a": 1000, "b": 0}, {"a": 0.5, "b": 0.5}, 1000)
    kept = sum(train_tokenizer.keep(f"doc{i}", 0.3, seed=0) for i in range(20000))
    assert abs(kept / 20000 - 0.3) < 0.02
    assert [train_tokenizer.keep(f"d{i}", 0.3, 1) for i in range(50)] == [
        train_tokenizer.keep(f"d{i}", 0.3, 1) for i in range(50)]


def test_lines_are_sampled_so_few_large_documents_still_get_their_share():
    """Three book-sized documents at rate 0.1: whole-document sampling would keep all or none
    of a book (the demo's books got 0 % of the sample); line sampling keeps about 10 %."""
    books = [(f"book{b}", "\n".join(f"line {i} of book {b} " + "x" * (i % 50)
                                     for i in range(3000))) for b in range(3)]
    total = sum(len(t) for _, t in books)
    kept = [train_tokenizer.sample_lines(i, t, 0.1, seed=0) for i, t in books]
    assert all(k is not None for k in kept)
    assert abs(sum(len(k) for k in kept) / total - 0.1) < 0.01
    assert train_tokenizer.sample_lines("d", "a\nb", 1.0, 0) == "a\nb"
    assert kept == [train_tokenizer.sample_lines(i, t, 0.1, seed=0) for i, t in books]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from("abcdef"), st.tuples(
    st.integers(1, 10**9), st.floats(0.01, 100)), min_size=1), st.integers(1, 10**10))
def test_sampled_bytes_follow_the_weights_whatever_the_sizes(sources, sample_bytes):
    """Expected sampled bytes (rate x bytes available) are in the weights' proportions, and no
    rate exceeds 1 (the byte-count skew of issue 12: 98 % code from a 5 % weight)."""
    available = {n: b for n, (b, _) in sources.items()}
    total = sum(w for _, w in sources.values())
    weights = {n: w / total for n, (_, w) in sources.items()}
    rates = train_tokenizer.sampling_rates(available, weights, sample_bytes)
    expected = {n: rates[n] * available[n] for n in rates}
    assert all(0 < r <= 1.0 + 1e-12 for r in rates.values())
    assert sum(expected.values()) <= sample_bytes * (1 + 1e-9)
    for name in rates:
        assert expected[name] / sum(expected.values()) == pytest.approx(weights[name], rel=1e-6)


def test_ids_as_seqio_expects(sp):
    assert (sp.pad_id(), sp.eos_id(), sp.unk_id(), sp.bos_id()) == (0, 1, 2, -1)
    assert sp.get_piece_size() == 2000


def test_digits_are_single_tokens(sp):
    pieces = [sp.id_to_piece(i) for i in sp.encode("2026")]
    assert pieces == ["2", "0", "2", "6"]


@pytest.mark.parametrize("text", [
    "\n", " ", "  ", "\t", " leading", "trailing ", "a  b   c", "line1\nline2\n\n\tindented",
    "2026-11-22", "▁", "a▁ b", "\ue000\ue001▁", "😀 東京 e\u0301", "\x00\x07\r\n", ""])
def test_round_trip_examples(sp, text):
    assert sp.decode(sp.encode(text)) == text


def test_newline_is_one_token(sp):
    assert len(sp.encode("\n")) == 1


unicode_text = st.text(  # runs of spaces, tabs and newlines come from repeats
    alphabet=st.one_of(
        st.characters(blacklist_categories=("Cs",)),  # anything encodable as UTF-8
        st.sampled_from([" ", "\t", "\n", "\r", "▁", "\ue000", "\u0301", "😀", "東",
                         "\x00", "\u200b", "\u00a0", "0", "7"])),
    max_size=80)


@settings(max_examples=300, deadline=None)
@given(unicode_text)
def test_round_trip_property(sp, text):
    assert sp.decode(sp.encode(text)) == text


@settings(max_examples=60, deadline=None)
@given(unicode_text)
def test_round_trip_through_seqio_vocabulary(demo, text):
    import seqio

    vocab = seqio.SentencePieceVocabulary(demo["model"])
    assert vocab.decode(vocab.encode(text)) == text


def test_unknown_mixture_source_is_an_error(demo, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("name: x\nvocabulary: v\ndata_dir: d\nsources:\n"
                    "  - {name: nowhere, weight: 1}\n")
    manifests = train_tokenizer.read_manifests(demo["prep"])
    with pytest.raises(train_tokenizer.TokenizerError, match="nowhere"):
        train_tokenizer.mixture_weights(manifests, str(spec))


def test_a_misspelt_flag_is_an_error(tmp_path, capsys):
    from pipeline import train_tokenizer
    args = ["--data_dir", str(tmp_path), "--output_dir", str(tmp_path / "out"),
            "--vocab_size", "300"]
    assert train_tokenizer.main(args + ["--sample_byte=1000"]) == 2
    assert "unknown flag --sample_byte; did you mean --sample_bytes?" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_progress_while_sampling_and_a_summary_at_the_end(demo, tmp_path, caplog, capsys):
    caplog.set_level(logging.INFO, logger="pipeline.progress")
    train_tokenizer.run([
        "--data_dir", demo["prep"], "--vocab_size", "400", "--output_dir", str(tmp_path),
        "--sample_bytes", "200000", "--direct_running_mode=multi_processing",
        "--direct_num_workers=2", "--progress_seconds=0.2"])
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.progress"]
    assert lines and all(line.startswith("tokenizer sample progress ") for line in lines)
    train_docs = sum(m["documents_out"]["train"]
                     for m in train_tokenizer.read_manifests(demo["prep"]).values())
    sampled = sum(s["documents"] for s in json.load(
        open(tmp_path / "manifest.json"))["sample"]["per_source"].values())
    assert f"read {train_docs:,} (" in lines[-1] and f"sampled {sampled:,} (" in lines[-1]
    out = capsys.readouterr().out
    assert f"{train_docs:,} train documents" in out
    assert f"wrote: {tmp_path / 'spm.model'}" in out and "vocabulary of 400 pieces" in out
    shuffle = json.load(open(tmp_path / "manifest.json"))["shuffle_volume"]
    assert set(shuffle["by_shuffle"]) == {"shards"} and shuffle["per_input_byte"] < 0.01
    assert "crossed a shuffle" in out


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["web", "books", "code"]), st.text(min_size=0,
                                                                              max_size=40)),
                min_size=1, max_size=30), st.integers(1, 4), st.integers(0, 3))
def test_sentences_stream_in_the_order_of_an_in_memory_sort(tmp_path_factory, docs, files,
                                                            seed):
    """write_sentences reads documents back by offset; the result is the order and text an
    in-memory sort of every document (the code before issue 21) gives."""
    folder = tmp_path_factory.mktemp("sample")
    records = [{"id": f"{source}-{i}", "source": source, "text": text + "\n\u2028x\r"}
               for i, (source, text) in enumerate(docs)]
    for f in range(files):
        with open(folder / f"docs-{f:05d}-of-{files:05d}.jsonl", "w", encoding="utf-8") as out:
            for record in records[f::files]:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    got = folder / "sentences.txt"
    stats = train_tokenizer.write_sentences(str(folder), seed, str(got))
    records.sort(key=lambda d: (train_tokenizer.writers.unit_hash(d["id"], f"order:{seed}"),
                                d["source"], d["id"]))
    want = "".join(line + "\n" for d in records for line in d["text"].split("\n") if line)
    assert got.read_bytes().decode("utf-8") == want
    assert sum(s["documents"] for s in stats.values()) == len(records)


def test_vocab_file_keeps_one_piece_per_line_and_the_trainer_stays_quiet(tmp_path, capfd):
    """The newline symbol would break SentencePiece's own spm.vocab (and it warns so); ours is
    escaped, the trainer's warning about it is gone, and nothing else it says is swallowed."""
    import random

    import sentencepiece as spm

    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 7)))
             for _ in range(300)]
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(" ".join(rng.choice(words) for _ in range(10))
                                   for _ in range(2000)) + "\n", encoding="utf-8")
    train_tokenizer.train_sentencepiece(str(sentences), str(tmp_path), vocab_size=300,
                                        num_threads=1, input_sentence_size=0,
                                        max_sentence_length=4192, seed=0)
    assert "break the format" not in capfd.readouterr().err
    processor = spm.SentencePieceProcessor(model_file=str(tmp_path / "spm.model"))
    lines = (tmp_path / "spm.vocab").read_text(encoding="utf-8").split("\n")[:-1]
    assert len(lines) == processor.get_piece_size()
    assert "\\n\t0" in lines and all(line.count("\t") == 1 for line in lines)
    with train_tokenizer._TrainerStderr():
        os.write(2, b"something else went wrong\n")
    assert capfd.readouterr().err == "something else went wrong\n"
