"""The prep job on real text people wrote: what each source keeps, what removed the rest, and
throughput against datatrove on the same documents and rules, in one run.

    .venv/bin/python benchmarks/bench_real_text.py --label after      # fetch (once), run, record
    .venv/bin/python benchmarks/bench_real_text.py --label before     # on an older checkout
    .venv/bin/python benchmarks/bench_real_text.py --label x --throughput_only  # step 3 only

1. fetch (once, cached under benchmarks/work/real_text/): `apt-get download` of Debian packages,
   unpacked with `dpkg-deb -x`, converted to JSONL sources (one document per line):
   - books:    the Python 3.11 manual's plain-text sources (python3.11-doc, `_sources/*.rst.txt`,
               reStructuredText hard-wrapped at ~80 columns), one file per document;
   - man_en:   English man pages (manpages, manpages-dev), rendered to text by `man -l` (man-db
               + groff, 80 columns; man removes the overstrike formatting when not on a tty);
               `.so` redirect stubs are skipped; a seeded sample of --man_pages pages;
   - man_intl: German, French and Japanese man pages (manpages-de, -fr, -ja), rendered the same
               way, --man_pages per language; the source declares `languages: [de, fr, ja]`;
   - web_en:   Debian documentation as web pages: the Debian Administrator's Handbook (en-US
               HTML; text extracted the way a browser lays it out: block elements become
               paragraphs, inline whitespace collapses, <pre> kept) plus the Debian Reference's
               plain-text edition (debian-reference-en, hard-wrapped), split at its sections;
   - web_intl: the Handbook's de-DE, fr-FR and ja-JP HTML, extracted the same way,
               `languages: [de, fr, ja]`;
   - code:     the Python sources of several packages (requests, urllib3, yaml, jinja2,
               docutils, pygments), read by the code_dir reader.
2. our job: `python -m pipeline.prep` on a spec listing those six sources with the default
   stages (no overrides), DirectRunner, --workers processes. Per source: documents and bytes in
   and out, and per drop reason the documents, their lines and bytes; lines removed by line
   rules; a seeded sample of kept and dropped documents is saved for the hand check
   (benchmarks/work/real_text/handcheck_<label>.jsonl).
3. throughput: every prose document (all sources but code) exported to JSONL.gz shards, then our
   job with exactly the stages langid, gopher_repetition, gopher_quality, c4 and datatrove 0.10.1
   with LanguageFilter -> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter on the
   same shards (benchmarks/datatrove_runner.py, its own venv), back to back: docs/s and MB per
   CPU-second, and their ratio. Languages en, de, fr, ja on both sides.

Results: benchmarks/results/real_text.json, one entry per --label (other labels kept).
Timings on a shared machine are noisy; the ratio between engines measured in the same run is
the figure to quote, with the load average recorded beside it.
"""

from __future__ import annotations

import argparse
import compileall
import concurrent.futures
import datetime
import glob
import gzip
import html.parser
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import time
from typing import Any, Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_prep  # noqa: E402  (shared timing, venv and datatrove helpers)

WORK = ROOT / "benchmarks" / "work" / "real_text"
DEBS = WORK / "debs"
TREE = WORK / "tree"
RAW = WORK / "raw"
RESULTS = ROOT / "benchmarks" / "results" / "real_text.json"
MB = 1_000_000

PACKAGES = {
    "books": ["python3.11-doc"],
    "man_en": ["manpages", "manpages-dev"],
    "man_intl": ["manpages-de", "manpages-fr", "manpages-ja"],
    "web_en": ["debian-handbook", "debian-reference-en"],
    "code": ["python3-requests", "python3-urllib3", "python3-yaml", "python3-jinja2",
             "python3-docutils", "python3-pygments"],
}
INTL = ("de", "fr", "ja")
HANDBOOK_LOCALES = {"de": "de-DE", "fr": "fr-FR", "ja": "ja-JP"}


def log(msg: str) -> None:
    print(f"[bench_real_text {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------------------------
# Fetch and convert

def fetch_packages() -> dict[str, str]:
    """apt-get download + dpkg-deb -x of every package; returns package -> .deb file name."""
    DEBS.mkdir(parents=True, exist_ok=True)
    TREE.mkdir(parents=True, exist_ok=True)
    wanted = sorted({p for ps in PACKAGES.values() for p in ps})
    missing = [p for p in wanted if not glob.glob(str(DEBS / f"{p}_*.deb"))]
    if missing:
        log(f"apt-get download {' '.join(missing)}")
        subprocess.run(["apt-get", "download", *missing], cwd=DEBS, check=True,
                       stdout=subprocess.DEVNULL)
    debs = {}
    for p in wanted:
        deb = sorted(glob.glob(str(DEBS / f"{p}_*.deb")))[-1]
        debs[p] = os.path.basename(deb)
        marker = TREE / f".{debs[p]}.done"
        if not marker.exists():
            subprocess.run(["dpkg-deb", "-x", deb, str(TREE)], check=True)
            marker.touch()
    return debs


def write_jsonl(name: str, docs: Iterator[dict[str, str]]) -> dict[str, int]:
    RAW.mkdir(parents=True, exist_ok=True)
    n = size = 0
    with gzip.open(RAW / f"{name}.jsonl.gz", "wt", encoding="utf-8") as f:
        for doc in docs:
            if not doc["text"].strip():
                continue
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
            n += 1
            size += len(doc["text"].encode("utf-8"))
    return {"documents": n, "bytes": size}


def books() -> Iterator[dict[str, str]]:
    root = TREE / "usr/share/doc/python3.11/html/_sources"
    for path in sorted(root.rglob("*.rst.txt")):
        rel = str(path.relative_to(root))
        yield {"id": f"books/{rel}", "path": rel, "text": path.read_text(encoding="utf-8")}


def _is_stub(path: pathlib.Path) -> bool:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        head = f.read(400)
    lines = [ln for ln in head.splitlines() if ln.strip() and not ln.startswith(('.\\"', "'\\\""))]
    return len(lines) <= 2 and any(ln.startswith(".so ") for ln in lines)


def render_man(path: pathlib.Path) -> str:
    env = dict(os.environ, MANWIDTH="80", LANG="C.UTF-8", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    done = subprocess.run(["man", "-l", str(path)], capture_output=True, env=env, timeout=60)
    return done.stdout.decode("utf-8", errors="replace")


def man_pages(roots: list[pathlib.Path], k: int, seed: int, prefix: str) -> list[dict]:
    pages = sorted(p for root in roots for p in root.glob("man*/*.gz") if not _is_stub(p))
    random.Random(seed).shuffle(pages)
    pages = sorted(pages[:k])
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        texts = list(pool.map(render_man, pages))
    return [{"id": f"{prefix}/{p.parent.name}/{p.name}", "path": str(p.relative_to(TREE)),
             "text": t} for p, t in zip(pages, texts)]


class _PageText(html.parser.HTMLParser):
    """Visible text of an HTML page laid out as a browser would: block elements start a new
    paragraph, whitespace inside a paragraph collapses, <pre> keeps its lines, script, style
    and head are skipped."""

    BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "dt", "dd", "tr", "table",
              "ul", "ol", "dl", "pre", "blockquote", "section", "article", "br", "hr", "title",
              "td", "th", "figure", "figcaption"}
    SKIP = {"script", "style", "head"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.pre = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        if tag == "pre":
            self.pre += 1
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if self.skip:
            return
        self.parts.append(data if self.pre else re.sub(r"\s+", " ", data))

    def text(self) -> str:
        raw = "".join(self.parts)
        lines = [ln.rstrip() for ln in raw.split("\n")]
        out = "\n".join(ln if ln.strip() else "" for ln in lines)
        return re.sub(r"\n{3,}", "\n\n", out).strip()


def html_text(path: pathlib.Path) -> str:
    parser = _PageText()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser.text()


def handbook(locale: str, prefix: str) -> Iterator[dict[str, str]]:
    root = TREE / "usr/share/doc/debian-handbook/html" / locale
    for path in sorted(root.glob("*.html")):
        if path.name in ("index.html",):
            continue
        yield {"id": f"{prefix}/{locale}/{path.name}", "path": str(path.relative_to(TREE)),
               "text": html_text(path)}


# Section headings: "1.1.\u00a0Console basics" at column 0 (a no-break space after the number;
# table captions such as "1.1. List of ..." use a plain space and are not sections).
_SECTION = re.compile(r"^(\d+\.\d+(?:\.\d+)*)\.\u00a0\S.*$", re.M)


def debian_reference_sections() -> Iterator[dict[str, str]]:
    """The plain-text Debian Reference split at its numbered section headings (the front
    matter, before chapter 1, is one document of its own; a heading with no text of its own
    before its first subsection stays with that subsection)."""
    with gzip.open(TREE / "usr/share/debian-reference/debian-reference.en.txt.gz", "rt",
                   encoding="utf-8") as f:
        text = f.read()
    body = text.find("\nChapter 1.")
    starts = [0] + [m.start() for m in _SECTION.finditer(text) if m.start() > body]
    pending = ""
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        section = pending + text[start:end]
        if len(section.strip().splitlines()) <= 1 and i + 1 < len(starts):
            pending = section
            continue
        pending = ""
        title = section.strip().splitlines()[0]
        yield {"id": f"web_en/debian-reference/{i:04d}",
               "path": f"debian-reference.en.txt#{title[:40]}", "text": section}


def convert(man_pages_k: int, seed: int) -> dict[str, Any]:
    """RAW/<source>.jsonl.gz for the prose sources (cached by a marker with the settings)."""
    marker = RAW / "converted.json"
    settings = {"man_pages": man_pages_k, "seed": seed, "version": 2}
    if marker.exists():
        done = json.loads(marker.read_text(encoding="utf-8"))
        if done.get("settings") == settings:
            return done["sources"]
    shutil.rmtree(RAW, ignore_errors=True)
    out: dict[str, Any] = {}
    log("converting: books")
    out["books"] = write_jsonl("books", books())
    log("converting: man_en (man -l)")
    out["man_en"] = write_jsonl("man_en", iter(man_pages(
        [TREE / "usr/share/man"], man_pages_k, seed, "man_en")))
    log("converting: man_intl (man -l)")
    intl = []
    for lang in INTL:
        intl += man_pages([TREE / "usr/share/man" / lang], man_pages_k // len(INTL), seed,
                          f"man_{lang}")
    out["man_intl"] = write_jsonl("man_intl", iter(intl))
    log("converting: web_en, web_intl (HTML to text)")
    out["web_en"] = write_jsonl("web_en", (d for g in (handbook("en-US", "web_en"),
                                                       debian_reference_sections()) for d in g))
    out["web_intl"] = write_jsonl("web_intl", (d for lang in INTL
                                               for d in handbook(HANDBOOK_LOCALES[lang],
                                                                 "web_intl")))
    marker.write_text(json.dumps({"settings": settings, "sources": out}, indent=1),
                      encoding="utf-8")
    return out


def spec_sources() -> list[dict[str, Any]]:
    def jsonl(name: str, role: str, languages: list[str] | None = None) -> dict[str, Any]:
        entry = {"name": name, "role": role, "format": "jsonl",
                 "paths": [str(RAW / f"{name}.jsonl.gz")], "text_field": "text", "id_field": "id"}
        if languages:
            entry["languages"] = languages
        return entry

    dist = TREE / "usr/lib/python3/dist-packages"
    return [
        jsonl("books", "books"),
        jsonl("man_en", "books", ["en"]),
        jsonl("man_intl", "books", list(INTL)),
        jsonl("web_en", "webpages", ["en"]),
        jsonl("web_intl", "webpages", list(INTL)),
        {"name": "code", "role": "code", "format": "code_dir",
         "paths": [str(dist)], "extensions": [".py"]},
    ]


# ---------------------------------------------------------------------------------------------
# Our job with default settings, per-source accounting

def read_kept(source_dir: pathlib.Path) -> list[dict[str, Any]]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from pipeline import writers

    docs = []
    for path in sorted(source_dir.glob("*.tfrecord")):
        for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
            docs.append(writers.parse_example(record))
    return docs


def read_rejected(source_dir: pathlib.Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(source_dir.glob("rejected-*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            out += [json.loads(line) for line in f]
    return out


def run_defaults(label: str, workers: int, seed: int, code_dir: pathlib.Path) -> dict[str, Any]:
    run_dir = WORK / "run" / label
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    spec_path = run_dir / "sources.yaml"
    spec_path.write_text(json.dumps({"seed": 0, "sources": spec_sources()}, indent=1),
                         encoding="utf-8")
    out_dir = run_dir / "out"
    cmd = [sys.executable, "-m", "pipeline.prep", "--sources", str(spec_path),
           "--output_dir", str(out_dir), f"--direct_num_workers={workers}"]
    log(f"{label}: prep with default stages on six sources (code from {code_dir})")
    timing = bench_prep.timed(cmd, run_dir / "prep.log",
                              env=dict(os.environ, PYTHONPATH=str(code_dir)), cwd=code_dir)
    per_source: dict[str, Any] = {}
    handcheck = []
    rng = random.Random(seed)
    for source in spec_sources():
        name = source["name"]
        sdir = out_dir / name
        manifest = json.loads((sdir / "manifest.json").read_text(encoding="utf-8"))
        rejected = read_rejected(sdir)
        kept = read_kept(sdir)
        by_reason: dict[str, dict[str, int]] = {}
        for r in rejected:
            entry = by_reason.setdefault(r["reason"], {"documents": 0, "lines": 0, "bytes": 0})
            entry["documents"] += 1
            entry["lines"] += len(r["text"].splitlines())
            entry["bytes"] += len(r["text"].encode("utf-8"))
        docs_in = manifest["documents_in"]
        docs_out = sum(manifest["documents_out"].values())
        bytes_out = sum(manifest["bytes_out"].values())
        per_source[name] = {
            "role": source["role"], "languages": source.get("languages", []),
            "documents_in": docs_in, "documents_kept": docs_out,
            "kept_share": round(docs_out / docs_in, 4) if docs_in else None,
            "bytes_in": manifest["bytes_in"], "bytes_kept": bytes_out,
            "kept_bytes_share": round(bytes_out / manifest["bytes_in"], 4)
            if manifest["bytes_in"] else None,
            "dropped": dict(sorted(by_reason.items(), key=lambda kv: -kv[1]["documents"])),
            "lines_removed": manifest.get("lines_removed", {}),
            "skipped": {k: v for k, v in manifest.items() if k.startswith("skipped")},
            "languages_seen": manifest.get("languages_seen", {}),
            "pii_redactions": manifest.get("pii_redactions", {}),
        }
        for kind, pool in (("kept", kept), ("dropped", rejected)):
            for doc in rng.sample(pool, min(20, len(pool))):
                handcheck.append({"source": name, "kind": kind, "id": doc["id"],
                                  "reason": doc.get("reason"), "lang": doc.get("lang"),
                                  "chars": len(doc["text"]), "text": doc["text"][:1500]})
    hc_path = WORK / f"handcheck_{label}.jsonl"
    with open(hc_path, "w", encoding="utf-8") as f:
        for row in handcheck:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    log(f"{label}: {timing['wall_s']:.0f} s; kept shares "
        + ", ".join(f"{k} {v['kept_share']}" for k, v in per_source.items()))
    return {"command": " ".join(["python"] + cmd[1:]), "wall_s": round(timing["wall_s"], 1),
            "cpu_s": round(timing["cpu_s"], 1), "load_average_1min": timing["load_average_1min"],
            "sources": per_source, "handcheck_sample": str(hc_path.relative_to(ROOT))}


# ---------------------------------------------------------------------------------------------
# Throughput against datatrove on the same documents and rules

def export_prose(shards: int) -> tuple[pathlib.Path, int, int]:
    out = WORK / "export"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    docs = []
    for name in ("books", "man_en", "man_intl", "web_en", "web_intl"):
        with gzip.open(RAW / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            docs += [json.loads(line) for line in f]
    writers = [gzip.open(out / f"part-{i:05d}.jsonl.gz", "wt", encoding="utf-8")
               for i in range(shards)]
    for i, doc in enumerate(docs):
        writers[i % shards].write(json.dumps({"id": doc["id"], "text": doc["text"]},
                                             ensure_ascii=False) + "\n")
    for w in writers:
        w.close()
    return out, len(docs), sum(len(d["text"].encode("utf-8")) for d in docs)


def throughput(workers: int, shards: int) -> dict[str, Any]:
    bench_prep.ensure_datatrove_venv()
    bench_prep.LANGUAGES[:] = ["en", *INTL]
    # Bytecode for our package, as an installed package has (pip compiles datatrove's): with
    # PYTHONDONTWRITEBYTECODE set, every Beam worker would otherwise compile pipeline/ anew.
    compileall.compile_dir(str(ROOT / "pipeline"), quiet=1)
    input_dir, docs, size = export_prose(shards)
    model = bench_prep.lid_model_path()
    # Our rules twice: in their default mode (whitespace words, C4 on paragraphs, per-language
    # settings) and in their datatrove-identical mode, both against datatrove back to back.
    ours = bench_prep.run_ours(input_dir, workers, "real_text_ours", {
        "langid": {"min_score": bench_prep.MIN_SCORE}, "gopher_repetition": {},
        "gopher_quality": {}, "c4": {}})
    ours_dt = bench_prep.run_ours(input_dir, workers, "real_text_ours_datatrove_mode")
    theirs = bench_prep.run_datatrove(input_dir, workers, shards, model, "real_text_datatrove")
    result = {}
    for name, run in (("ours", ours), ("ours_datatrove_mode", ours_dt), ("datatrove", theirs)):
        rates = bench_prep.rates(run, docs, size, workers)
        result[name] = {**rates, "mb_per_cpu_s": round(size / MB / run["cpu_s"], 3)
                        if run["cpu_s"] else None,
                        "kept": run["kept"], "dropped_by_reason": run["dropped_by_reason"],
                        "command": run["command"]}
    d = result["datatrove"]
    for name in ("ours", "ours_datatrove_mode"):
        o = result[name]
        result[f"ratio_{name}_over_datatrove"] = {
            "docs_per_s": round(o["docs_per_s"] / d["docs_per_s"], 3),
            "mb_per_cpu_s": round(o["mb_per_cpu_s"] / d["mb_per_cpu_s"], 3)
            if o["mb_per_cpu_s"] and d["mb_per_cpu_s"] else None}
    result["setup"] = {"documents": docs, "text_mb": round(size / MB, 2), "shards": shards,
                       "workers": workers, "languages": bench_prep.LANGUAGES,
                       "rules": list(bench_prep.RULES),
                       "note": "prose sources only (datatrove has no code rules); our stages "
                               "langid, gopher_repetition, gopher_quality, c4 (normalize, "
                               "boilerplate, pii, dedup off) in default mode and in "
                               "datatrove-identical mode; datatrove's four filters (C4 "
                               "min_num_sentences 3 on both); one source, role webpages",
                       "bytecode": "pipeline/ compiled to __pycache__ before the runs (as "
                                   "pip does for datatrove's venv)"}
    return result


def langid_cost() -> dict[str, Any]:
    """Language ID alone on every prose document, in one process, both inputs back to back:
    the first 2,000 characters of the whole text (`score_on: text`, datatrove's input) and the
    prose lines (`score_on: prose`, the default). Seconds, documents per second, their ratio,
    and what each keeps (any language, score >= 0.65)."""
    from pipeline import langid

    docs = []
    for name in ("books", "man_en", "man_intl", "web_en", "web_intl"):
        with gzip.open(RAW / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
            docs += [json.loads(line)["text"] for line in f]
    langid.identify("warm-up: load the model before timing")
    out: dict[str, Any] = {"documents": len(docs),
                           "load_average_before": [round(x, 2) for x in os.getloadavg()]}
    for mode in ("text", "prose"):
        started = time.process_time()
        scores = [langid.identify(text, 2000, mode)[1] for text in docs]
        cpu = time.process_time() - started
        out[mode] = {"cpu_s": round(cpu, 3), "docs_per_cpu_s": round(len(docs) / cpu, 1),
                     "score_at_least_0.65": sum(score >= 0.65 for score in scores)}
    out["prose_cost_over_text"] = round(out["prose"]["cpu_s"] / out["text"]["cpu_s"], 2)
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


def c4_on_hard_wrapped_text() -> dict[str, Any]:
    """C4 alone on the plain-text Debian Reference's sections (hard-wrapped at ~70 columns),
    judging display lines (`unwrap: false`, datatrove's way) and paragraphs (the default)."""
    from pipeline.rules.c4 import C4Rules

    with gzip.open(RAW / "web_en.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = [d["text"] for d in map(json.loads, f) if "debian-reference" in d["id"]]
    total_bytes = sum(len(t.encode("utf-8")) for t in texts)
    out: dict[str, Any] = {"documents": len(texts), "bytes": total_bytes,
                           "non_blank_lines": sum(1 for t in texts for ln in t.splitlines()
                                                  if ln.strip())}
    for mode, unwrap in (("display_lines", False), ("paragraphs", True)):
        rule = C4Rules(unwrap=unwrap)
        kept_docs = kept_bytes = kept_lines = 0
        for text in texts:
            result = rule(text, "en")
            if result.keep:
                kept_docs += 1
                kept_bytes += len(result.text.encode("utf-8"))
                kept_lines += sum(1 for ln in result.text.splitlines() if ln.strip())
        out[mode] = {"documents_kept": kept_docs, "non_blank_lines_kept": kept_lines,
                     "bytes_kept_share": round(kept_bytes / total_bytes, 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", required=True, help="results key, e.g. before / after")
    parser.add_argument("--man_pages", type=int, default=900,
                        help="English man pages sampled; the same number over de+fr+ja")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip_throughput", action="store_true")
    parser.add_argument("--c4_only", action="store_true",
                        help="only (re)measure C4 on the hard-wrapped text, into the label's "
                             "existing entry")
    parser.add_argument("--langid_only", action="store_true",
                        help="only (re)measure language ID's cost on the prose documents, "
                             "into the label's existing entry")
    parser.add_argument("--throughput_only", action="store_true",
                        help="only the throughput comparison and language ID's cost (on the "
                             "cached corpus), into the label's entry, without the default-"
                             "settings run")
    parser.add_argument("--code_dir", type=pathlib.Path, default=ROOT,
                        help="checkout whose pipeline/ the default-settings run uses (e.g. an "
                             "export of an older commit for the 'before' figures)")
    args = parser.parse_args(argv)
    if args.c4_only or args.langid_only:
        results = json.loads(RESULTS.read_text(encoding="utf-8"))
        key, measure = (("c4_on_hard_wrapped_text", c4_on_hard_wrapped_text) if args.c4_only
                        else ("langid_cost", langid_cost))
        results["runs"][args.label][key] = dict(
            measure(), measured_at_commit=subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                text=True).stdout.strip(), measured_on=datetime.date.today().isoformat())
        RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n",
                           encoding="utf-8")
        return 0
    bench_prep.SUBREAPER = bench_prep.become_subreaper()
    started = time.time()
    if args.throughput_only:
        results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
        fetch_packages()  # a no-op once the .debs are cached and unpacked
        convert(args.man_pages, args.seed)
        entry = results.setdefault("runs", {}).setdefault(args.label, {})
        entry.update({
            "date": datetime.date.today().isoformat(), "machine": bench_prep.machine(),
            "git_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                         capture_output=True, text=True).stdout.strip(),
            "note": "--throughput_only: no default-settings run in this entry",
            "langid_cost": langid_cost(),
            "throughput_vs_datatrove": throughput(args.workers, args.shards),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "total_script_seconds": round(time.time() - started, 1)})
        RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n",
                           encoding="utf-8")
        log(f"wrote {RESULTS.relative_to(ROOT)}")
        return 0
    machine = bench_prep.machine()
    debs = fetch_packages()
    corpus = convert(args.man_pages, args.seed)
    entry: dict[str, Any] = {
        "date": datetime.date.today().isoformat(), "machine": machine,
        "git_commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                     capture_output=True, text=True).stdout.strip(),
        "code_dir": str(args.code_dir),
        "packages": debs, "corpus": corpus,
        "corpus_mb": round(sum(v["bytes"] for v in corpus.values()) / MB, 1),
        "defaults_run": run_defaults(args.label, args.workers, args.seed,
                                     args.code_dir.resolve()),
    }
    if args.code_dir.resolve() == ROOT:
        entry["c4_on_hard_wrapped_text"] = c4_on_hard_wrapped_text()
        entry["langid_cost"] = langid_cost()
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    if not args.skip_throughput:
        entry["throughput_vs_datatrove"] = throughput(args.workers, args.shards)
    elif "throughput_vs_datatrove" in results.get("runs", {}).get(args.label, {}):
        # kept from the label's previous run (it names its own commit and load)
        previous = results["runs"][args.label]
        kept = previous["throughput_vs_datatrove"]
        entry["throughput_vs_datatrove"] = dict(
            kept, measured_at_commit=kept.get("measured_at_commit", previous["git_commit"]),
            measured_on=kept.get("measured_on", previous["date"]))
    entry["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    entry["total_script_seconds"] = round(time.time() - started, 1)
    results["benchmark"] = "prep job on real text (Debian documentation, man pages, code)"
    results["script"] = "benchmarks/bench_real_text.py"
    results.setdefault("runs", {})[args.label] = entry
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    log(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
