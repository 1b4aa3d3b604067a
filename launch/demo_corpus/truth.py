"""Boilerplate accounting, the ground truth, the evaluation set and the prep spec."""

from __future__ import annotations

import random
import re
from typing import Any

from launch.demo_corpus.documents import Doc, SourceBuild
from launch.demo_corpus.layout import (
    EVAL_CONTAMINATED,
    EVAL_COPY_FROM,
    EVAL_FILE,
    EVAL_SET,
    EVAL_SPAN_WORDS,
    EVAL_UNRELATED,
    GENERATOR_NAME,
    GENERATOR_VERSION,
    SOURCES,
)
from launch.demo_corpus.material import NEWS_FOOTER, SIGNATURES, SITES


def count_boilerplate(builds: dict[str, SourceBuild]) -> None:
    web = builds["webpages"]
    for site_index, site in enumerate(SITES):
        docs = sum(1 for d in web.docs if d.meta["site"] == site_index)
        for where, line in (("nav", " | ".join(site["nav"])), ("cookie_banner", site["cookie"]),
                            ("footer", site["footer"][0]), ("footer", site["footer"][1])):
            web.boilerplate.append({"line": line, "where": where, "site": site["host"],
                                    "documents": docs, "in": "html"})
    wet = builds["web_wet"]
    for site_index, site in enumerate(SITES):
        for where, line in (("nav", " | ".join(site["nav"])), ("cookie_banner", site["cookie"]),
                            ("footer", site["footer"][0]), ("footer", site["footer"][1])):
            docs = sum(1 for d in wet.docs if line in d.text.split("\n"))
            wet.boilerplate.append({"line": line, "where": where, "site": site["host"],
                                    "documents": docs, "in": "text"})
    conv = builds["conversations"]
    for sig in dict.fromkeys(SIGNATURES.values()):
        docs = sum(1 for d in conv.docs + conv.readable_extra if sig in d.text.split("\n"))
        conv.boilerplate.append({"line": sig, "where": "forum_signature", "documents": docs,
                                 "in": "text"})
    news = builds["news"]
    docs = sum(1 for d in news.docs if NEWS_FOOTER in d.text.split("\n\n"))
    news.boilerplate.append({"line": NEWS_FOOTER, "where": "footer", "documents": docs,
                             "in": "text"})


def _resolve(value: Any) -> Any:
    if isinstance(value, Doc):
        return value.ref()
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


def ground_truth(builds: dict[str, SourceBuild], seed: int, size_mb: float) -> dict[str, Any]:
    planted, boilerplate, malformed = [], [], []
    counts: dict[str, int] = {}
    for b in builds.values():
        for item in b.truth:
            doc = item["doc"]
            planted.append({"source": b.name, "location": doc.location, "doc_id": doc.doc_id,
                            "category": item["category"], "details": _resolve(item["details"])})
            counts[item["category"]] = counts.get(item["category"], 0) + 1
        boilerplate += [{"source": b.name, **entry} for entry in b.boilerplate]
        # file: relative to the corpus folder; file_in_source: relative to the source's folder
        # (what the readers report in dead letters).
        malformed += [{"source": b.name, **entry,
                       "file_in_source": entry["file"][len(b.folder) + 1:]}
                      for entry in b.malformed]
    return {"generator": GENERATOR_NAME, "generator_version": GENERATOR_VERSION,
            "seed": seed, "size_mb": size_mb,
            "counts": dict(sorted(counts.items())),
            "planted": planted, "boilerplate": boilerplate, "malformed": malformed}


_NOT_WORD = re.compile(r"[\W_]+")


def _eval_words(text: str) -> list[str]:
    """The words decontamination compares (pipeline.decontamination.normalize's definition:
    lower-cased, non-letters/digits as spaces); repeated here to keep this module Beam-free."""
    return _NOT_WORD.sub(" ", text.lower()).split()


def build_eval_set(builds: dict[str, SourceBuild], seed: int
                   ) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """An evaluation set for decontamination, and its ground truth.

    `EVAL_CONTAMINATED` texts each copy a `EVAL_SPAN_WORDS`-word span from the middle of a
    paragraph of one ordinary document of `EVAL_COPY_FROM`; a span is used only if every one
    of its 13-word windows occurs in no other document of the corpus (prose is recombined
    from shared sentences, so most spans are not unique). The other texts are seeded random
    word sequences from the pool's vocabulary, a few of them too short to be matched. Runs after
    the writers with its own RNG, so the rest of the corpus does not change.
    """
    rng = random.Random(f"demo-corpus:{seed}:eval-set")
    everything = [d for b in builds.values() for d in b.docs + b.readable_extra]
    corpus = "\n" + "\n".join(" " + " ".join(_eval_words(d.text)) + " "
                               for d in everything) + "\n"
    candidates = [d for name in EVAL_COPY_FROM for d in builds[name].ordinary()
                  if not d.modified and not d.frozen]
    rng.shuffle(candidates)
    chosen: list[tuple[Doc, str]] = []
    for doc in candidates:
        if len(chosen) == EVAL_CONTAMINATED:
            break
        paragraphs = [p for p in doc.text.split("\n\n")
                      if len(p.split()) >= EVAL_SPAN_WORDS + 8 and "\n" not in p.strip()]
        if not paragraphs:
            continue
        raw = rng.choice(paragraphs).split()
        start = rng.randrange(4, len(raw) - EVAL_SPAN_WORDS - 3)
        span = " ".join(raw[start:start + EVAL_SPAN_WORDS])
        words = _eval_words(span)
        if len(words) < EVAL_SPAN_WORDS or any(c.isdigit() for c in span) or "@" in span:
            continue  # digits could be redacted as PII, changing the document's words
        windows = [" " + " ".join(words[i:i + 13]) + " " for i in range(len(words) - 12)]
        if all(corpus.count(w) == 1 for w in windows):
            chosen.append((doc, span))
    vocab = builds["books"].pool.vocab
    texts = [(f"Which passage continues: {span}", doc) for doc, span in chosen]
    for i in range(EVAL_UNRELATED):
        n = 5 if i % 8 == 0 else rng.randint(14, 30)  # every eighth is too short to match
        texts.append((" ".join(rng.choice(vocab) for _ in range(n)).capitalize() + "?", None))
    rng.shuffle(texts)
    records = [{"id": f"{EVAL_SET}-{i:04d}", "text": t} for i, (t, _) in enumerate(texts)]
    truth = {"eval_set": EVAL_SET, "file": EVAL_FILE, "ngram": 13,
             "texts": len(records), "unrelated": len(records) - len(chosen),
             "contaminated": [{**doc.ref(), "eval_id": records[i]["id"]}
                              for i, (_, doc) in enumerate(texts) if doc is not None]}
    return records, truth


def sources_yaml(seed: int, size_mb: float) -> str:
    fields = "text_field: text\n    id_field: id\n    url_field: url\n"
    entries = {
        "conversations": ('["conversations/*.jsonl.gz"]', fields),
        "webpages": ('["webpages/*.warc.gz"]', ""),
        "web_wet": ('["wet/*.warc.wet.gz"]', ""),
        "books": ('["books"]', "extensions: [.txt]\n"),
        "code": ('["code"]', "extensions: [.py]\n"),
        "wikipedia": ('["wikipedia/*.parquet"]', fields),
        "news": ('["news/*.jsonl", "news/*.jsonl.zst"]', fields),
    }
    command = f"python -m launch.demo_corpus --size_mb {size_mb:g} --seed {seed}"
    out = [f"# Prep spec for the demo corpus written by `{command}`.",
           "# Paths are relative to this file. ground_truth.json lists what was planted.",
           f"seed: {seed}", "sources:"]
    for name, role, fmt, _ in SOURCES:
        paths, extra = entries[name]
        block = (f"  - name: {name}\n    role: {role}\n    format: {fmt}\n    paths: {paths}\n")
        if extra:
            block += "    " + extra
        if role != "code":
            block += "    languages: [en]\n"
        out.append(block.rstrip("\n"))
    out += [
        "# Corpus stages (after exact and near dedup, which are on by default).",
        "quality_classifier:        # GLaM: curated sources vs raw web pages, Pareto sampling",
        "  positive_sources: [books, wikipedia]",
        "  negative_sources: [webpages, web_wet]",
        "  apply_to: [webpages, web_wet]",
        "  keep: pareto",
        "  pareto_alpha: 2.0        # not GLaM's 9: see BUILD.md (demo web pages score ~0.45)",
        f"  seed: {seed}",
        "decontamination:           # 13-gram overlap with the evaluation set",
        f"  eval_sets: {{{EVAL_SET}: {EVAL_FILE}}}",
        "  action: remove",
    ]
    return "\n".join(out) + "\n"
