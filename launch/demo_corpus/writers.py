"""Writers, one per format. Each sets document locations, writes files and counts raw bytes and
documents."""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import html
import io
import json
import math
import os
import random
import uuid
import zlib
from typing import Any

from launch.demo_corpus.documents import Doc, SourceBuild
from launch.demo_corpus.layout import BASE_TIME, GENERATOR_NAME, MB, WEB_HTML_OVERHEAD
from launch.demo_corpus.material import SITES
from launch.demo_corpus.prose import slugify
from launch.demo_corpus.text_sources import article, conversation_text
from pipeline.document import document_id


def _gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as f:
        f.write(data)
    return buf.getvalue()


def jsonl_bytes(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def _split(items: list, parts: int) -> list[list]:
    size = math.ceil(len(items) / parts)
    return [items[i:i + size] for i in range(0, len(items), size)]


def write_file(out_dir: str, rel: str, data: bytes) -> None:
    path = os.path.join(out_dir, *rel.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_conversations(b: SourceBuild, out: str) -> None:
    docs = b.docs
    for i, doc in enumerate(docs):
        doc.location = f"conv-{i:07d}"
    total = sum(len(d.text) for d in docs)
    n_files = min(64, max(3, math.ceil(total / (4 * MB))))
    for k, chunk in enumerate(_split(docs, n_files)):
        rel = f"{b.folder}/conversations-{k:05d}.jsonl.gz"
        records = [{"id": d.location, "text": d.text,
                    "url": f"https://forum.example.com/t/{d.location}"} for d in chunk]
        write_file(out, rel, _gzip_bytes(jsonl_bytes(records)))
        b.files.append(rel)
        b.raw_bytes += sum(len(r["text"].encode("utf-8")) for r in records)
        b.documents += len(records)
    # One more file, cut short in the middle of its gzip stream.
    extra = [b.new(conversation_text(b)) for _ in range(30)]
    for j, doc in enumerate(extra):
        doc.location = f"conv-{len(docs) + j:07d}"
    records = [{"id": d.location, "text": d.text,
                "url": f"https://forum.example.com/t/{d.location}"} for d in extra]
    full = _gzip_bytes(jsonl_bytes(records))
    cut = int(len(full) * 0.55)
    readable = zlib.decompressobj(wbits=31).decompress(full[:cut])
    complete = readable.count(b"\n")
    rel = f"{b.folder}/conversations-{n_files:05d}.jsonl.gz"
    write_file(out, rel, full[:cut])
    b.files.append(rel)
    b.raw_bytes += sum(len(r["text"].encode("utf-8")) for r in records[:complete])
    b.documents += complete
    b.readable_extra = extra[:complete]
    b.malformed.append({"file": rel, "position": f"byte {cut}", "kind": "truncated_gzip",
                        "details": {"compressed_bytes_full": len(full), "compressed_bytes": cut,
                                    "records_in_stream": len(records),
                                    "complete_records": complete,
                                    "first_lost_line": complete + 1,
                                    "first_lost_id": records[complete]["id"]}})


def _warc_id(rng: random.Random) -> str:
    return f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"


def _warc_date(i: int) -> str:
    return (BASE_TIME + dt.timedelta(seconds=37 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_html(doc: Doc) -> bytes:
    site = SITES[doc.meta["site"]]
    esc = functools.partial(html.escape, quote=False)
    nav = " | ".join(f'<a href="/{slugify(item)}">{esc(item)}</a>' for item in site["nav"])
    paras = "\n".join(f"<p>{esc(p)}</p>" for p in doc.text.split("\n\n") if p.strip())
    title = esc(doc.meta["title"])
    footer = "\n".join(f"<p>{esc(line)}</p>" for line in site["footer"])
    page = (f'<!DOCTYPE html>\n<html lang="{doc.meta["lang"]}">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{title} | {esc(site['brand'])}</title>\n</head>\n<body>\n"
            f"<header><nav>{nav}</nav></header>\n"
            f'<div class="cookie-banner"><p>{esc(site["cookie"])}</p></div>\n'
            f"<main>\n<article>\n<h1>{title}</h1>\n{paras}\n</article>\n</main>\n"
            f"<footer>\n{footer}\n</footer>\n</body>\n</html>\n")
    return page.encode("utf-8")


def _warcinfo(writer: Any, rel: str, rng: random.Random, i: int, software: str) -> None:
    info = (f"software: {software}\r\nformat: WARC File Format 1.0\r\n"
            f"description: demo corpus generated from the Python standard library\r\n").encode()
    record = writer.create_warc_record(
        "", "warcinfo", payload=io.BytesIO(info), length=len(info),
        warc_content_type="application/warc-fields",
        warc_headers_dict={"WARC-Record-ID": _warc_id(rng), "WARC-Date": _warc_date(i),
                           "WARC-Filename": rel.rsplit("/", 1)[-1]})
    writer.write_record(record)


def write_webpages(b: SourceBuild, out: str) -> None:
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    ids = random.Random(f"demo-corpus:{b.rng.random()}:warc-ids")
    counter = 0
    for doc in b.docs:
        doc.location = _warc_id(ids)
    total = sum(len(d.text) + WEB_HTML_OVERHEAD for d in b.docs)
    n_files = min(32, max(2, math.ceil(total / (8 * MB))))
    chunks = _split(b.docs, n_files)
    for k, chunk in enumerate(chunks):
        rel = f"{b.folder}/webpages-{k:05d}.warc.gz"
        buf = io.BytesIO()
        writer = WARCWriter(buf, gzip=True)
        _warcinfo(writer, rel, ids, counter, GENERATOR_NAME)
        for doc in chunk:
            counter += 1
            site = SITES[doc.meta["site"]]
            url = (f"https://{site['host']}/{site['section']}/"
                   f"{slugify(doc.meta['title'])}-{counter:06d}.html")
            doc.meta["url"] = url
            body = render_html(doc)
            http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                               ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body),
                http_headers=http,
                warc_headers_dict={"WARC-Record-ID": doc.location,
                                   "WARC-Date": _warc_date(counter)})
            writer.write_record(record)
            b.raw_bytes += len(body)
            b.documents += 1
        if k == len(chunks) - 1:  # a response whose payload is an image, not text
            counter += 1
            body = b"\x89PNG\r\n\x1a\n" + bytes(ids.randrange(256) for _ in range(2048))
            rid = _warc_id(ids)
            url = f"https://{SITES[0]['host']}/images/banner-{counter:06d}.png"
            http = StatusAndHeaders("200 OK", [("Content-Type", "image/png"),
                                               ("Content-Length", str(len(body)))],
                                    protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), length=len(body), http_headers=http,
                warc_headers_dict={"WARC-Record-ID": rid, "WARC-Date": _warc_date(counter)}))
            b.malformed.append({"file": rel, "position": rid, "kind": "binary_payload",
                                "details": {"url": url, "content_type": "image/png",
                                            "doc_id": document_id(b.name, rid)}})
        write_file(out, rel, buf.getvalue())
        b.files.append(rel)


def _wet_conversion(writer: Any, ids: random.Random, counter: int, url: str, rid: str,
                    payload: bytes) -> None:
    writer.write_record(writer.create_warc_record(
        url, "conversion", payload=io.BytesIO(payload), length=len(payload),
        warc_content_type="text/plain",
        warc_headers_dict={"WARC-Record-ID": rid, "WARC-Date": _warc_date(counter),
                           "WARC-Refers-To": _warc_id(ids)}))


def write_web_wet(b: SourceBuild, out: str) -> None:
    from warcio.warcwriter import WARCWriter

    ids = random.Random(f"demo-corpus:{b.rng.random()}:wet-ids")
    for doc in b.docs:
        doc.location = _warc_id(ids)
    total = sum(len(d.text) for d in b.docs)
    n_files = min(8, max(1, math.ceil(total / (8 * MB))))
    chunks = _split(b.docs, n_files)
    counter = 0
    for k, chunk in enumerate(chunks):
        rel = f"{b.folder}/web_wet-{k:05d}.warc.wet.gz"
        buf = io.BytesIO()
        writer = WARCWriter(buf, gzip=True)
        _warcinfo(writer, rel, ids, counter, f"{GENERATOR_NAME} (WET)")

        for doc in chunk:
            counter += 1
            site = SITES[doc.meta["site"]] if doc.meta.get("site") is not None else None
            host = site["host"] if site else "pages.example.com"
            url = f"https://{host}/crawl/{counter:06d}"
            doc.meta["url"] = url
            payload = doc.text.encode("utf-8")
            _wet_conversion(writer, ids, counter, url, doc.location, payload)
            b.raw_bytes += len(payload)
            b.documents += 1
        if k == 0:  # a conversion record with nothing in it
            counter += 1
            rid = _warc_id(ids)
            url = f"https://pages.example.com/crawl/{counter:06d}"
            _wet_conversion(writer, ids, counter, url, rid, b"")
            b.malformed.append({"file": rel, "position": rid, "kind": "empty_record",
                                "details": {"url": url, "doc_id": document_id(b.name, rid)}})
        write_file(out, rel, buf.getvalue())
        b.files.append(rel)


def write_books(b: SourceBuild, out: str) -> None:
    for i, doc in enumerate(b.docs):
        doc.location = f"{i:04d}-{slugify(doc.meta['title'], 40)}.txt"
        data = doc.text.encode("utf-8")
        rel = f"{b.folder}/{doc.location}"
        write_file(out, rel, data)
        b.files.append(rel)
        b.raw_bytes += len(data)
        b.documents += 1
    n = len(b.docs)
    empty = f"{n:04d}-untitled.txt"
    write_file(out, f"{b.folder}/{empty}", b"")
    binary = f"{n + 1:04d}-scan.txt"
    blob = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(b.rng.randrange(256) for _ in range(4096))
    write_file(out, f"{b.folder}/{binary}", blob)
    b.files += [f"{b.folder}/{empty}", f"{b.folder}/{binary}"]
    b.malformed.append({"file": f"{b.folder}/{empty}", "position": "0", "kind": "empty_file",
                        "details": {"location": empty}})
    b.malformed.append({"file": f"{b.folder}/{binary}", "position": "0", "kind": "binary_file",
                        "details": {"location": binary, "bytes": len(blob),
                                    "note": "PNG bytes with NULs in a .txt file"}})


def write_code(b: SourceBuild, out: str) -> None:
    for doc in b.docs:
        data = doc.text.encode("utf-8")
        rel = f"{b.folder}/{doc.location}"
        write_file(out, rel, data)
        b.files.append(rel)
        b.raw_bytes += len(data)
        b.documents += 1
    location = "legacy/latin1_module.py"
    data = ('# -*- coding: latin-1 -*-\n"""Module de démonstration: données héritées, '
            'encodées en Latin-1."""\n\nGRÜSSE = "Grüße aus Köln"\n').encode("latin-1")
    write_file(out, f"{b.folder}/{location}", data)
    b.files.append(f"{b.folder}/{location}")
    b.malformed.append({"file": f"{b.folder}/{location}", "position": "0",
                        "kind": "invalid_utf8_file",
                        "details": {"location": location, "encoding": "latin-1"}})
    b.files.sort()


def write_wikipedia(b: SourceBuild, out: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for i, doc in enumerate(b.docs):
        doc.location = str(100000 + i)
        doc.meta["url"] = f"https://wiki.example.org/wiki/{doc.meta['title'].replace(' ', '_')}"
    total = sum(len(d.text) for d in b.docs)
    n_files = min(32, max(2, math.ceil(total / (4 * MB))))
    chunks = _split(b.docs, n_files)
    for k, chunk in enumerate(chunks):
        rel = f"{b.folder}/wikipedia-{k:05d}.parquet"
        table = pa.table({"id": [d.location for d in chunk],
                          "title": [d.meta["title"] for d in chunk],
                          "text": [d.text for d in chunk],
                          "url": [d.meta["url"] for d in chunk]})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        write_file(out, rel, buf.getvalue())
        b.files.append(rel)
        b.raw_bytes += sum(len(d.text.encode("utf-8")) for d in chunk)
        b.documents += len(chunk)
    # A file from an older export whose text column was called "body".
    rel = f"{b.folder}/wikipedia-{len(chunks):05d}.parquet"
    titles: set[str] = set()
    stale = [article(b, titles) for _ in range(5)]
    table = pa.table({"id": [f"legacy-{j}" for j in range(5)],
                      "title": [d.meta["title"] for d in stale],
                      "body": [d.text for d in stale],
                      "url": [f"https://wiki.example.org/legacy/{j}" for j in range(5)]})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_file(out, rel, buf.getvalue())
    b.files.append(rel)
    b.malformed.append({"file": rel, "position": "schema", "kind": "missing_text_column",
                        "details": {"columns": table.column_names, "rows": 5}})


def write_news(b: SourceBuild, out: str) -> None:
    import zstandard

    n = len(b.docs)
    total = sum(len(d.text) for d in b.docs)
    months = min(24, max(2, math.ceil(total / (1.5 * MB))))
    days = months * 30
    by_month: dict[str, list[dict[str, Any]]] = {}
    for i, doc in enumerate(b.docs):
        doc.location = f"news-{i:07d}"
        day = BASE_TIME.date() + dt.timedelta(days=i * days // n)
        host = "wire.example.net" if doc.meta.get("syndicated") else "news.example.org"
        slug = slugify(doc.meta.get("title") or doc.text[:40], 40)
        record = {"id": doc.location, "text": doc.text,
                  "url": f"https://{host}/{day:%Y/%m/%d}/{slug}-{i}",
                  "date": day.isoformat()}
        by_month.setdefault(f"{day:%Y-%m}", []).append(record)
    rng = b.rng
    for k, (month, records) in enumerate(by_month.items()):
        lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") + b"\n" for r in records]
        b.raw_bytes += sum(len(r["text"].encode("utf-8")) for r in records)
        b.documents += len(records)
        if k % 2 == 0:
            rel = f"{b.folder}/{month}.jsonl"
            if k == 0:
                bad = [
                    ("broken_json", (b'{"id": "news-broken-0001", "text": "The council met on '
                                     b'Tuesday to discuss the bridge, "url": \n')),
                    ("missing_text_field", json.dumps(
                        {"id": "news-notext-0001", "url": "https://news.example.org/x",
                         "date": records[0]["date"]}).encode() + b"\n"),
                    ("invalid_utf8", b'{"id": "news-badutf8-0001", "text": "Caf\xe9 prices rose '
                                     b'\xff\xfe again this week.", "url": '
                                     b'"https://news.example.org/y", "date": "'
                                     + records[0]["date"].encode() + b'"}\n'),
                ]
                for kind, line in bad:
                    lines.insert(rng.randrange(1, len(lines) + 1), line)
                for kind, line in bad:
                    b.malformed.append({"file": rel, "position": f"line {lines.index(line) + 1}",
                                        "kind": kind, "details": {"line": lines.index(line) + 1}})
            data = b"".join(lines)
        else:
            rel = f"{b.folder}/{month}.jsonl.zst"
            data = zstandard.ZstdCompressor(level=3).compress(b"".join(lines))
        write_file(out, rel, data)
        b.files.append(rel)
