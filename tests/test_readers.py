"""Readers: every format from small files made here, and every kind of damage they must survive."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import random
import shutil

import pytest

from pipeline.document import is_dead_letter
from pipeline.readers import READERS, ReaderError, ReadUnit, plan_units, read_unit
from pipeline.readers.code_dir import language_of
from pipeline.readers.tfds import split_ranges
from pipeline.spec import FORMATS, SourceSpec


def spec(fmt: str, paths, **kw) -> SourceSpec:
    if not isinstance(paths, (list, tuple)):
        paths = [paths]
    return SourceSpec(name=kw.pop("name", "src"), role=kw.pop("role", "webpages"), format=fmt,
                      paths=tuple(str(p) for p in paths), **kw)


def read_all(source: SourceSpec):
    docs, dead = [], []
    for unit in plan_units(source):
        for record in read_unit(unit, source):
            (dead if is_dead_letter(record) else docs).append(record)
    return docs, dead


def write(path, data: bytes | str) -> str:
    path = str(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def jsonl(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def prose_lines(n: int, seed: int = 0) -> list[dict]:
    """Lines with varied words so that compressed files are not tiny."""
    rng = random.Random(seed)
    words = [f"w{rng.randrange(100000)}" for _ in range(2000)]
    return [{"text": f"doc {i} " + " ".join(rng.choice(words) for _ in range(40)), "n": i}
            for i in range(n)]


def zstd_bytes(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


def reasons(dead):
    return [d["reason"] for d in dead]


def test_registry_covers_every_spec_format():
    assert set(READERS) == set(FORMATS)


# ---------------------------------------------------------------------------------- jsonl


def test_jsonl_plain_gzip_zstd_texts_locations_meta(tmp_path):
    rows = [{"text": "alpha", "u": "http://a"}, {"text": "beta"}]
    write(tmp_path / "web/a.jsonl", jsonl(rows))
    write(tmp_path / "web/b.jsonl.gz", gzip.compress(jsonl(rows)))
    write(tmp_path / "web/c.jsonl.zst", zstd_bytes(jsonl(rows)))
    source = spec("jsonl", tmp_path / "web/*.jsonl*", url_field="u")
    docs, dead = read_all(source)
    assert dead == []
    assert [d["text"] for d in docs] == ["alpha", "beta"] * 3
    assert [d["meta"]["location"] for d in docs] == [
        "a.jsonl:1", "a.jsonl:2", "b.jsonl.gz:1", "b.jsonl.gz:2", "c.jsonl.zst:1", "c.jsonl.zst:2"]
    assert docs[0]["meta"] == {"path": "a.jsonl", "line": 1, "url": "http://a",
                               "location": "a.jsonl:1"}
    assert "url" not in docs[1]["meta"]
    assert {d["source"] for d in docs} == {"src"} and {d["role"] for d in docs} == {"webpages"}
    assert len({d["id"] for d in docs}) == 6


def test_jsonl_ids_stable_and_independent_of_location_on_disk(tmp_path):
    write(tmp_path / "one/corpus/part-0/a.jsonl", jsonl(prose_lines(5)))
    write(tmp_path / "one/corpus/part-1/b.jsonl.gz", gzip.compress(jsonl(prose_lines(5, 1))))
    shutil.copytree(tmp_path / "one/corpus", tmp_path / "elsewhere/deeper/corpus")
    first = spec("jsonl", tmp_path / "one/corpus/part-*/*.jsonl*")
    moved = spec("jsonl", tmp_path / "elsewhere/deeper/corpus/part-*/*.jsonl*")
    ids = [d["id"] for d in read_all(first)[0]]
    assert len(ids) == 10 and len(set(ids)) == 10
    assert ids == [d["id"] for d in read_all(first)[0]]
    assert ids == [d["id"] for d in read_all(moved)[0]]
    assert [u.display for u in plan_units(moved)] == ["part-0/a.jsonl", "part-1/b.jsonl.gz"]


def test_jsonl_id_field_gives_location(tmp_path):
    write(tmp_path / "a.jsonl", jsonl([{"text": "x", "id": 17}, {"text": "y", "id": ""},
                                      {"text": "z"}]))
    docs, _ = read_all(spec("jsonl", tmp_path / "a.jsonl", id_field="id"))
    assert [d["meta"]["location"] for d in docs] == ["17", "a.jsonl:2", "a.jsonl:3"]


def test_jsonl_bad_lines_are_dead_letters_and_the_rest_is_read(tmp_path):
    lines = [
        b'{"text": "first"}',
        b'{"text": "broken", ',            # 2 broken JSON
        b'',                               # 3 blank: skipped silently
        b'{"text": "caf\xe9"}',            # 4 latin-1 byte: invalid UTF-8
        b'{"body": "no text field"}',      # 5 missing field
        b'{"text": 42}',                   # 6 not a string
        b'{"text": "   "}',                # 7 empty
        b'[1, 2]',                         # 8 not an object
        b'{"text": "bad \\ud800 surrogate"}',  # 9 lone surrogate
        b'{"text": "last"}\r',             # 10 CRLF line ending
    ]
    write(tmp_path / "a.jsonl", b"\n".join(lines) + b"\n")
    docs, dead = read_all(spec("jsonl", tmp_path / "a.jsonl"))
    assert [d["text"] for d in docs] == ["first", "last"]
    assert docs[1]["meta"]["line"] == 10
    assert [d["position"] for d in dead] == ["2", "4", "5", "6", "7", "8", "9"]
    assert all(d["file"] == "a.jsonl" and d["source"] == "src" for d in dead)
    r = reasons(dead)
    assert r[0].startswith("invalid JSON")
    assert r[1].startswith("invalid UTF-8 at byte 13")
    assert r[2] == "missing text field 'text' (fields: body)"
    assert r[3] == "text field 'text' is a number, not a string"
    assert r[4] == "text field 'text' is empty"
    assert r[5] == "line is a JSON array, not an object"
    assert "surrogate" in r[6]
    assert dead[0]["excerpt"] == '{"text": "broken", '


def test_jsonl_truncated_gzip_keeps_documents_before_the_damage(tmp_path):
    data = gzip.compress(jsonl(prose_lines(2000)))
    write(tmp_path / "a.jsonl.gz", data[: len(data) // 2])
    docs, dead = read_all(spec("jsonl", tmp_path / "a.jsonl.gz"))
    assert 100 < len(docs) < 2000
    assert [d["text"] for d in docs] == [r["text"] for r in prose_lines(2000)[:len(docs)]]
    assert len(dead) == 1
    assert dead[0]["reason"].startswith("truncated gzip stream")
    assert dead[0]["position"] == str(len(docs) + 1)


def test_jsonl_corrupt_gzip_and_zstd_streams(tmp_path):
    originals = prose_lines(2000)
    payload = jsonl(originals)
    for name, blob in (("a.jsonl.gz", gzip.compress(payload)), ("b.jsonl.zst",
                                                               zstd_bytes(payload))):
        broken = bytearray(blob)
        middle = len(broken) // 2
        broken[middle:middle + 64] = bytes(64)
        write(tmp_path / name, bytes(broken))
    docs, dead = read_all(spec("jsonl", tmp_path / "*.jsonl.*"))
    for name, kind in (("a.jsonl.gz", "gzip"), ("b.jsonl.zst", "zstd")):
        letters = [d for d in dead if d["file"] == name]
        kept = [d for d in docs if d["meta"]["path"] == name]
        # Deflate may decode damaged bytes into garbage that only the member's CRC exposes, so
        # the stream error can come after some bad lines; it always comes, and comes last.
        assert letters[-1]["reason"].startswith(f"corrupt {kind} stream"), letters
        assert sum(d["reason"].startswith("corrupt") for d in letters) == 1
        assert [d["text"] for d in kept[:500]] == [r["text"] for r in originals[:500]]


def test_jsonl_truncated_zstd_is_noticed(tmp_path):
    blob = zstd_bytes(jsonl(prose_lines(2000)))
    write(tmp_path / "a.jsonl.zst", blob[: len(blob) * 2 // 3])
    docs, dead = read_all(spec("jsonl", tmp_path / "a.jsonl.zst"))
    assert 0 < len(docs) < 2000
    assert reasons(dead) and len(dead) == 1
    assert dead[0]["reason"].startswith("truncated zstd stream")


def test_jsonl_multi_member_gzip_and_multi_frame_zstd(tmp_path):
    write(tmp_path / "a.jsonl.gz", gzip.compress(jsonl([{"text": "one"}]))
          + gzip.compress(jsonl([{"text": "two"}])))
    write(tmp_path / "b.jsonl.zst", zstd_bytes(jsonl([{"text": "three"}]))
          + zstd_bytes(jsonl([{"text": "four"}])))
    docs, dead = read_all(spec("jsonl", tmp_path / "*"))
    assert dead == []
    assert [d["text"] for d in docs] == ["one", "two", "three", "four"]


def test_jsonl_empty_and_unreadable_files(tmp_path):
    write(tmp_path / "empty.jsonl", b"")
    write(tmp_path / "blank.jsonl", b"\n  \n")
    write(tmp_path / "empty.jsonl.gz", gzip.compress(b""))
    source = spec("jsonl", tmp_path / "*.jsonl*")
    docs, dead = read_all(source)
    assert docs == []
    assert {(d["file"], d["reason"]) for d in dead} == {
        ("empty.jsonl", "empty file"), ("empty.jsonl.gz", "empty file"),
        ("blank.jsonl", "empty file: only blank lines")}
    gone = ReadUnit(source="src", display="gone.jsonl", path=str(tmp_path / "gone.jsonl"))
    [letter] = list(read_unit(gone, source))
    assert letter["reason"].startswith("unreadable file") and letter["file"] == "gone.jsonl"


def test_pattern_matching_nothing_fails_early_naming_source_and_pattern(tmp_path):
    write(tmp_path / "a.jsonl", jsonl([{"text": "x"}]))
    with pytest.raises(ReaderError, match=r"source 'src'.*nothing-\*\.jsonl.*matched no files"):
        plan_units(spec("jsonl", [tmp_path / "a.jsonl", tmp_path / "nothing-*.jsonl"]))
    with pytest.raises(ReaderError, match="no-such-dir"):
        plan_units(spec("text_dir", tmp_path / "no-such-dir"))
    with pytest.raises(ReaderError, match=r"matched 1 file\(s\) but none is left.*\.parquet"):
        plan_units(spec("jsonl", tmp_path / "*", extensions=(".parquet",)))
    assert issubclass(ReaderError, ValueError)


def test_glob_star_stays_in_one_folder_and_double_star_recurses(tmp_path):
    write(tmp_path / "d/top.jsonl", jsonl([{"text": "t"}]))
    write(tmp_path / "d/x/mid.jsonl", jsonl([{"text": "m"}]))
    write(tmp_path / "d/x/y/low.jsonl", jsonl([{"text": "l"}]))
    shallow = [u.display for u in plan_units(spec("jsonl", tmp_path / "d/*.jsonl"))]
    deep = [u.display for u in plan_units(spec("jsonl", tmp_path / "d/**/*.jsonl"))]
    folder = [u.display for u in plan_units(spec("jsonl", tmp_path / "d"))]
    assert shallow == ["top.jsonl"]
    assert deep == folder == ["top.jsonl", "x/mid.jsonl", "x/y/low.jsonl"]


def test_same_display_from_two_patterns_is_an_error(tmp_path):
    write(tmp_path / "a/doc.txt", "one")
    write(tmp_path / "b/doc.txt", "two")
    with pytest.raises(ReaderError, match="same ids"):
        plan_units(spec("text_dir", [tmp_path / "a", tmp_path / "b"]))
    docs, _ = read_all(spec("text_dir", tmp_path / "*"))  # their common parent: fine
    assert [d["meta"]["path"] for d in docs] == ["a/doc.txt", "b/doc.txt"]


def test_units_are_small_picklable_and_sorted(tmp_path):
    for name in ("c", "a", "b"):
        write(tmp_path / f"{name}.jsonl", jsonl([{"text": name}]))
    units = plan_units(spec("jsonl", tmp_path / "*.jsonl"))
    assert [u.display for u in units] == ["a.jsonl", "b.jsonl", "c.jsonl"]
    assert pickle.loads(pickle.dumps(units)) == units
    assert units[0].path == str(tmp_path / "a.jsonl") and units[0].size > 0
    with pytest.raises(ReaderError, match="source 'other'"):
        list(read_unit(units[0], spec("jsonl", tmp_path, name="other")))


def test_readers_run_inside_a_beam_pipeline(tmp_path):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    write(tmp_path / "a.jsonl", jsonl([{"text": "x"}, {"text": "y"}]))
    write(tmp_path / "b.jsonl", b"{oops\n")
    source = spec("jsonl", tmp_path / "*.jsonl")
    with beam.Pipeline() as p:
        out = (p | beam.Create(plan_units(source))
               | beam.FlatMap(read_unit, source)
               | beam.Map(lambda r: r["reason"][:12] if is_dead_letter(r) else r["text"]))
        assert_that(out, equal_to(["x", "y", "invalid JSON"]))


# -------------------------------------------------------------------------------- parquet


def test_parquet_rows_ids_urls_and_row_groups(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"content": ["one", None, "three", "", "five"],
                      "key": ["k1", "k2", "k3", "k4", None],
                      "link": ["http://1", None, "http://3", None, "http://5"],
                      "other": [1, 2, 3, 4, 5]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=2)
    assert pq.ParquetFile(tmp_path / "t.parquet").metadata.num_row_groups == 3
    docs, dead = read_all(spec("parquet", tmp_path / "t.parquet", text_field="content",
                               id_field="key", url_field="link"))
    assert [d["text"] for d in docs] == ["one", "three", "five"]
    assert [d["meta"]["location"] for d in docs] == ["k1", "k3", "t.parquet#row4"]
    assert [d["meta"]["url"] for d in docs] == ["http://1", "http://3", "http://5"]
    assert [d["meta"]["row"] for d in docs] == [0, 2, 4]
    assert [(d["position"], d["reason"]) for d in dead] == [
        ("1", "text column 'content' is null"), ("3", "text column 'content' is empty")]
    plain, _ = read_all(spec("parquet", tmp_path / "t.parquet", text_field="content"))
    assert [d["meta"]["location"] for d in plain] == [
        "t.parquet#row0", "t.parquet#row2", "t.parquet#row4"]


def test_parquet_missing_column_corrupt_and_empty_files(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["x"], "n": [1]}), tmp_path / "a_nocol.parquet")
    pq.write_table(pa.table({"text": pa.array([], pa.string())}), tmp_path / "b_norows.parquet")
    good = io.BytesIO()
    pq.write_table(pa.table({"text": ["fine"] * 10}), good)
    write(tmp_path / "c_corrupt.parquet", b"PAR1" + b"\x07" * 300 + b"PAR1")
    write(tmp_path / "d_empty.parquet", b"")
    write(tmp_path / "e_good.parquet", good.getvalue())
    docs, dead = read_all(spec("parquet", tmp_path / "*.parquet"))
    assert [d["text"] for d in docs] == ["fine"] * 10
    by_file = {d["file"]: d["reason"] for d in dead}
    assert len(dead) == 4
    assert by_file["a_nocol.parquet"] == "missing text column 'text' (columns: body, n)"
    assert by_file["b_norows.parquet"] == "empty file: 0 rows"
    assert by_file["c_corrupt.parquet"].startswith("not a readable Parquet file")
    assert by_file["d_empty.parquet"] == "empty file"


def test_parquet_ids_do_not_depend_on_folder(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write(tmp_path / "x/data/keep.txt", "")
    pq.write_table(pa.table({"text": ["a", "b"]}), tmp_path / "x/data/p.parquet")
    shutil.copytree(tmp_path / "x/data", tmp_path / "y/z/data")
    ids = [d["id"] for d in read_all(spec("parquet", tmp_path / "x/data/*.parquet"))[0]]
    moved = [d["id"] for d in read_all(spec("parquet", tmp_path / "y/z/data/*.parquet"))[0]]
    assert len(ids) == 2 and ids == moved


# ------------------------------------------------------------------------- text_dir/code_dir


def make_text_tree(root):
    write(root / "a.txt", "\ufeffHello world.\n")
    write(root / "sub/b.md", "# Title\n\nSome *markdown*.")
    write(root / ".hidden/c.txt", "never read")
    write(root / "sub/.secret.txt", "never read either")
    write(root / "bin.txt", b"PK\x03\x04\x00\x00binary")
    write(root / "empty.txt", b"")
    write(root / "latin1.txt", "caf\u00e9 au lait".encode("latin-1"))
    write(root / "table.csv", "a,b\n1,2\n")


def test_text_dir_documents_and_dead_letters(tmp_path):
    make_text_tree(tmp_path / "texts")
    source = spec("text_dir", tmp_path / "texts", role="books", extensions=(".txt", ".md"))
    docs, dead = read_all(source)
    assert [(d["meta"]["location"], d["text"]) for d in docs] == [
        ("a.txt", "Hello world.\n"), ("sub/b.md", "# Title\n\nSome *markdown*.")]
    assert docs[0]["meta"] == {"path": "a.txt", "location": "a.txt"}
    assert docs[0]["role"] == "books"
    assert {(d["file"], d["position"], d["reason"].split(" (")[0].split(":")[0])
            for d in dead} == {("bin.txt", "4", "binary file"), ("empty.txt", "0", "empty file"),
                               ("latin1.txt", "3", "invalid UTF-8 at byte 3")}
    everything, _ = read_all(spec("text_dir", tmp_path / "texts"))
    assert "table.csv" in [d["meta"]["path"] for d in everything]


def test_text_dir_ids_independent_of_folder_and_folder_globs(tmp_path):
    make_text_tree(tmp_path / "one/texts")
    shutil.copytree(tmp_path / "one/texts", tmp_path / "two/other/texts")
    first = [d["id"] for d in read_all(spec("text_dir", tmp_path / "one/texts"))[0]]
    again = [d["id"] for d in read_all(spec("text_dir", tmp_path / "one/texts"))[0]]
    moved = [d["id"] for d in read_all(spec("text_dir", tmp_path / "two/other/texts"))[0]]
    assert len(first) == 3 and first == again == moved
    globbed = read_all(spec("text_dir", tmp_path / "one/*", extensions=(".txt",)))[0]
    assert [d["meta"]["path"] for d in globbed] == ["texts/a.txt"]


def test_code_dir_languages_and_skipped_files(tmp_path):
    repo = tmp_path / "repos/proj"
    write(repo / "main.py", "print('hi')\n")
    write(repo / "lib/util.js", "export const x = 1;\n")
    write(repo / "include/x.h", "int f(void);\n")
    write(repo / "Makefile", "all:\n\techo hi\n")
    write(repo / "README.md", "# proj\n")
    write(repo / "logo.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(repo / "notes.xyz", "custom format\n")
    write(repo / ".git/config", "[core]\n")
    write(repo / "src/Broken.java", b"class A { String s = \"\xff\"; }")
    docs, dead = read_all(spec("code_dir", tmp_path / "repos/*", role="code"))
    assert {d["meta"]["path"]: d["meta"]["language"] for d in docs} == {
        "proj/main.py": "python", "proj/lib/util.js": "javascript", "proj/include/x.h": "c",
        "proj/Makefile": "makefile", "proj/README.md": "markdown"}
    assert [(d["file"], d["reason"].split(":")[0]) for d in dead] == [
        ("proj/src/Broken.java", "invalid UTF-8 at byte 22")]
    only_xyz, _ = read_all(spec("code_dir", repo, extensions=(".xyz",)))
    assert [(d["meta"]["path"], d["meta"]["language"]) for d in only_xyz] == [
        ("notes.xyz", "xyz")]
    with pytest.raises(ReaderError, match="known programming language"):
        plan_units(spec("code_dir", repo / "logo.png"))


def test_language_table():
    assert language_of("a/b/Main.JAVA") == "java"
    assert language_of("x.tsx") == "typescript" and language_of("x.hpp") == "cpp"
    assert language_of("x.cs") == "csharp" and language_of("x.rs") == "rust"
    assert language_of("Dockerfile") == "dockerfile"
    assert language_of("data.bin") is None and language_of(".bashrc") is None


# ------------------------------------------------------------------------------ WET / WARC


def warc_writer(buf, gz):
    from warcio.warcwriter import WARCWriter

    return WARCWriter(buf, gzip=gz)


def make_wet(gz: bool, texts) -> bytes:
    buf = io.BytesIO()
    writer = warc_writer(buf, gz)
    writer.write_record(writer.create_warcinfo_record("x.warc.wet", {"software": "test"}))
    for i, text in enumerate(texts):
        record = writer.create_warc_record(
            f"http://example.com/{i}", "conversion", payload=io.BytesIO(text.encode("utf-8")),
            warc_content_type="text/plain",
            warc_headers_dict={"WARC-Date": f"2023-01-0{i + 1}T00:00:00Z",
                               "WARC-Record-ID": f"<urn:uuid:wet-{i}>"})
        writer.write_record(record)
    return buf.getvalue()


def test_wet_conversion_records(tmp_path):
    texts = ["First page text.\nSecond line.", "Another page.", ""]
    write(tmp_path / "cc/a.warc.wet.gz", make_wet(True, texts))
    write(tmp_path / "cc/b.wet", make_wet(False, texts[:2]))
    docs, dead = read_all(spec("wet", tmp_path / "cc/*"))
    assert [d["text"] for d in docs] == texts[:2] * 2
    assert [d["meta"]["location"] for d in docs] == ["<urn:uuid:wet-0>", "<urn:uuid:wet-1>"] * 2
    assert docs[0]["meta"] == {"path": "a.warc.wet.gz", "url": "http://example.com/0",
                               "date": "2023-01-01T00:00:00Z", "location": "<urn:uuid:wet-0>"}
    assert [(d["file"], d["reason"]) for d in dead] == [
        ("a.warc.wet.gz", "conversion record <urn:uuid:wet-2> has no text")]


def test_wet_truncated_gzip_keeps_records_before_it(tmp_path):
    rng = random.Random(3)
    texts = [" ".join(f"w{rng.randrange(10 ** 6)}" for _ in range(400)) for _ in range(6)]
    blob = make_wet(True, texts)
    write(tmp_path / "a.wet.gz", blob[: len(blob) * 3 // 4])
    docs, dead = read_all(spec("wet", tmp_path / "a.wet.gz"))
    assert 0 < len(docs) < 6 and [d["text"] for d in docs] == texts[:len(docs)]
    assert len(dead) == 1 and dead[0]["reason"].startswith("corrupt WARC")
    assert "truncated gzip stream" in dead[0]["reason"]
    assert int(dead[0]["position"]) > 0


def test_wet_not_a_warc_and_empty(tmp_path):
    write(tmp_path / "a.wet", b"this is not a WARC file at all\n" * 3)
    write(tmp_path / "b.wet", b"")
    docs, dead = read_all(spec("wet", tmp_path / "*.wet"))
    assert docs == []
    assert [(d["file"], d["position"]) for d in dead] == [("a.wet", "0"), ("b.wet", "0")]
    assert dead[0]["reason"].startswith("corrupt WARC") and dead[1]["reason"] == "empty file"


ARTICLE = ("<p>The community garden opened its gates on Saturday morning, and more than two "
           "hundred neighbours came to plant tomatoes, beans and sunflowers in the raised beds "
           "that volunteers had built over the winter months.</p><p>Organisers said the harvest "
           "would be shared with the food bank on the corner, and that anyone who wanted a plot "
           "next spring should sign up at the library before the end of March.</p>")


def page(body: str, title: str = "Garden news") -> bytes:
    return (f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a> "
            f"<a href='/about'>About</a></nav><article><h1>{title}</h1>{body}</article>"
            "<footer>Copyright 2024</footer></body></html>").encode()


def make_warc(gz: bool, extra_pages: int = 0) -> bytes:
    from warcio.statusandheaders import StatusAndHeaders

    buf = io.BytesIO()
    writer = warc_writer(buf, gz)

    def response(url, body, status="200 OK", ctype="text/html; charset=utf-8", rid=None):
        http = StatusAndHeaders(status, [("Content-Type", ctype)], protocol="HTTP/1.1")
        headers = {"WARC-Record-ID": rid} if rid else None
        writer.write_record(writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=http,
            warc_headers_dict=headers))

    writer.write_record(writer.create_warc_record(
        "http://example.com/garden", "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n"),
        warc_content_type="application/http; msgtype=request"))
    response("http://example.com/garden", page(ARTICLE), rid="<urn:uuid:page-1>")
    response("http://example.com/logo.png", b"\x89PNG....", ctype="image/png")
    response("http://example.com/missing", page(ARTICLE), status="404 Not Found")
    response("http://example.com/empty",
             b"<html><head><title>Empty</title></head><body><script>var a = 1;</script></body>"
             b"</html>",
             rid="<urn:uuid:page-2>")
    for i in range(extra_pages):
        response(f"http://example.com/p{i}", page(ARTICLE.replace("Saturday", f"day {i}")),
                 rid=f"<urn:uuid:extra-{i}>")
    return buf.getvalue()


def test_warc_html_main_text_extraction(tmp_path):
    write(tmp_path / "crawl/a.warc.gz", make_warc(True))
    write(tmp_path / "crawl/b.warc", make_warc(False))
    docs, dead = read_all(spec("warc", tmp_path / "crawl/*"))
    assert len(docs) == 2
    for d in docs:
        assert "two hundred neighbours came to plant tomatoes" in d["text"]
        assert "sign up at the library" in d["text"]
        assert "Copyright" not in d["text"] and "About" not in d["text"]
        assert d["meta"]["location"] == "<urn:uuid:page-1>"
        assert d["meta"]["url"] == "http://example.com/garden"
    assert [d["meta"]["path"] for d in docs] == ["a.warc.gz", "b.warc"]
    assert docs[0]["id"] == docs[1]["id"]  # same WARC-Record-ID, wherever the file is
    assert [(d["file"], d["reason"]) for d in dead] == [
        ("a.warc.gz", "no extractable main text in http://example.com/empty"),
        ("b.warc", "no extractable main text in http://example.com/empty")]


def test_warc_corrupt_and_truncated_files(tmp_path):
    blob = make_warc(True, extra_pages=6)
    damaged = bytearray(blob)
    middle = len(damaged) * 2 // 3
    damaged[middle:middle + 40] = b"X" * 40
    write(tmp_path / "a.warc.gz", bytes(damaged))
    plain = make_warc(False, extra_pages=6)
    write(tmp_path / "b.warc", plain[: len(plain) - 700])
    docs, dead = read_all(spec("warc", tmp_path / "*.warc*"))
    per_file = {f: [d for d in docs if d["meta"]["path"] == f] for f in ("a.warc.gz", "b.warc")}
    assert 1 < len(per_file["a.warc.gz"]) < 7 and 1 < len(per_file["b.warc"]) < 7
    fatal = [d for d in dead if not d["reason"].startswith("no extractable")]
    assert [d["file"] for d in fatal] == ["a.warc.gz", "b.warc"]
    assert fatal[0]["reason"].startswith("corrupt WARC") and "gzip" in fatal[0]["reason"]
    assert fatal[1]["reason"].startswith("truncated WARC record")
    assert int(fatal[1]["position"]) > 0


# ------------------------------------------------------------------------------------ tfds


@pytest.fixture(scope="module")
def tiny_tfds(tmp_path_factory):
    tfds = pytest.importorskip("tensorflow_datasets")
    from tensorflow_datasets.core import registered

    data_dir = tmp_path_factory.mktemp("tfds_data")
    with registered.skip_registration():  # as on a worker without the dataset's code

        class TinyReaderCorpus(tfds.core.GeneratorBasedBuilder):
            VERSION = tfds.core.Version("1.0.0")

            def _info(self):
                return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
                    {"text": tfds.features.Text(), "url": tfds.features.Text()}))

            def _split_generators(self, dl_manager):
                return {"train": self._generate_examples(30), "test": self._generate_examples(4)}

            def _generate_examples(self, n):
                for i in range(n):
                    text = "" if i == 7 else f"example text number {i}"
                    yield i, {"text": text, "url": f"http://tiny/{i}"}

    builder = TinyReaderCorpus(data_dir=str(data_dir))
    builder.download_and_prepare(
        download_dir=str(tmp_path_factory.mktemp("tfds_dl")),
        download_config=tfds.download.DownloadConfig(num_shards=3, try_download_gcs=False))
    return str(data_dir)


def tfds_spec(data_dir, split="train", **kw):
    return SourceSpec(name="tiny", role="books", format="tfds", paths=(),
                      tfds_name="tiny_reader_corpus", tfds_split=split, tfds_data_dir=data_dir,
                      **kw)


def test_tfds_reads_shard_aligned_subsplits_with_stable_ids(tiny_tfds):
    source = tfds_spec(tiny_tfds, url_field="url")
    units = plan_units(source)
    assert len(units) == 3
    assert [u.display for u in units] == ["tiny_reader_corpus/train"] * 3
    assert units[0].start == 0 and sum(
        int(u.path.split(":")[1][:-1]) - u.start for u in units) == 30
    docs, dead = read_all(source)
    assert len(docs) == 29 and len(dead) == 1
    assert dead[0]["reason"] == "text feature 'text' is empty"
    indices = sorted(d["meta"]["index"] for d in docs) + [int(dead[0]["position"])]
    assert sorted(indices) == list(range(30))
    by_location = {d["meta"]["location"]: d for d in docs}
    assert set(by_location) == {f"tiny_reader_corpus/train/{d['meta']['index']}" for d in docs}
    for d in docs:  # the url is generated with the text: both come from the same example
        assert d["meta"]["url"].rsplit("/", 1)[1] == d["text"].rsplit(" ", 1)[1]
    assert [d["id"] for d in read_all(source)[0]] == [d["id"] for d in docs]
    head, _ = read_all(tfds_spec(tiny_tfds, split="train[:10]"))
    assert [d["id"] for d in head] == [d["id"] for d in docs if d["meta"]["index"] < 10]


def test_tfds_missing_dataset_and_feature_errors(tiny_tfds, tmp_path):
    with pytest.raises(ReaderError, match=r"'no_such_corpus'.*not prepared in data_dir .*"
                                          r"never download"):
        plan_units(SourceSpec(name="x", role="books", format="tfds", paths=(),
                              tfds_name="no_such_corpus", tfds_data_dir=tiny_tfds))
    with pytest.raises(ReaderError, match="does not exist.*never download"):
        plan_units(tfds_spec(str(tmp_path / "nowhere")))
    with pytest.raises(ReaderError, match=r"no feature 'body' \(features: text, url\)"):
        plan_units(tfds_spec(tiny_tfds, text_field="body"))
    with pytest.raises(ReaderError, match="split 'validation'"):
        plan_units(tfds_spec(tiny_tfds, split="validation"))


def test_split_ranges_follow_shards_and_cap():
    assert split_ranges([10, 10, 10], 0, 30, 64) == [(0, 10), (10, 20), (20, 30)]
    assert split_ranges([10, 10, 10], 5, 25, 64) == [(5, 10), (10, 20), (20, 25)]
    assert split_ranges([1] * 10, 0, 10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert split_ranges([5], 0, 0, 4) == []
