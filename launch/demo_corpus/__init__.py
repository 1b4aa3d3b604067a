"""The project's embedded default raw corpus: a deterministic, offline generator.

    python -m launch.demo_corpus --output_dir DIR [--size_mb 8] [--seed 0]

Everything is built from material every machine with the project installed already has: the
Python standard library's own files (found with ``sysconfig.get_paths()["stdlib"]``; nothing
from site-packages, whose contents differ between environments). Prose comes from module, class
and function docstrings read with ``ast`` (no module is imported), from the help topics in
``pydoc_data/topics.py`` and from the text files the stdlib ships (LICENSE, README, ``*.txt``,
``*.rst``, IDLE's ``help.html``); code comes from the stdlib's ``.py`` files. Documents are made by
sampling and recombining sentences with a seeded RNG, so a large corpus is not made of copies.

Layout of DIR (one folder per source, one source per PaLM role plus a WET one):

    conversations/conversations-NNNNN.jsonl.gz  conversations: JSON Lines, gzip; id, text, url
    webpages/webpages-NNNNN.warc.gz             webpages: WARC responses holding HTML pages
    wet/web_wet-NNNNN.warc.wet.gz               webpages: Common Crawl-style WET (conversion)
    books/NNNN-title.txt                        books: one long plain-text book per file
    code/<stdlib path>.py                       code: a sample of stdlib modules + planted files
    wikipedia/wikipedia-NNNNN.parquet           wikipedia: Parquet; id, title, text, url
    news/YYYY-MM.jsonl, news/YYYY-MM.jsonl.zst  news: JSON Lines, plain and zstd; id, text, url,
                                                date
    eval_sets/demo_eval.jsonl  an evaluation set for decontamination: some texts share a
                        16-word span with one document of the corpus, the rest are unrelated
    sources.yaml        the prep spec for this corpus (pipeline/spec.py format), with the
                        quality classifier and decontamination switched on
    ground_truth.json   every planted item: duplicates, near-duplicates, boilerplate, junk,
                        non-English, PII, mojibake, control characters, malformed records,
                        and which documents the evaluation set contaminates
    corpus.json         summary: files, documents and bytes per source, seed, size, planted counts

Document locations (and so ids, ``pipeline.document.document_id(source, location)``) follow the
readers' conventions: JSONL and Parquet sources use the record's ``id`` field; text and code
folders the file path relative to the source folder; WARC and WET the WARC-Record-ID header.

Determinism: the same seed, size and Python installation give byte-identical output (no wall
clock, no hash-order dependence, gzip headers with mtime 0, seeded WARC record ids and dates).
``size_mb`` is the approximate total raw size in units of 10^6 bytes, counted as the documents'
uncompressed bytes (JSONL/Parquet text fields, HTML payloads, WET payloads, file contents).

Modules, by what they make: ``layout`` (sources, shares, the evaluation set's place),
``material`` (hand-written sentences, names, templates), ``prose`` (the stdlib prose pool),
``documents`` (documents and the planting helpers), ``text_sources`` and ``code_source`` (one
builder per source), ``writers`` (one per format), ``truth`` (ground truth, evaluation set, spec)
``corpus`` (``generate``) and ``__main__`` (the command line).
"""

from launch.demo_corpus.corpus import generate
from launch.demo_corpus.documents import (
    Composer,
    Doc,
    SourceBuild,
    bullet_text,
    lorem_paragraphs,
    repetitive_text,
    symbol_soup,
)
from launch.demo_corpus.layout import (
    EVAL_FILE,
    EVAL_FOLDER,
    EVAL_SET,
    GENERATOR_NAME,
    GENERATOR_VERSION,
    MB,
    MIN_DOCS,
    SHARES,
    SOURCES,
)
from launch.demo_corpus.material import (
    BULLET_MARKERS,
    FOREIGN,
    FOREIGN_SENTENCES_PER_DOC,
    MOJIBAKE_SOURCES,
)
from launch.demo_corpus.prose import (
    ProsePool,
    build_pool,
    has_control_chars,
    humanize,
    jaccard,
    mis_decode,
    re_encode,
    stdlib_root,
)

__all__ = [
    "BULLET_MARKERS", "EVAL_FILE", "EVAL_FOLDER", "EVAL_SET", "FOREIGN",
    "FOREIGN_SENTENCES_PER_DOC", "GENERATOR_NAME", "GENERATOR_VERSION", "MB", "MIN_DOCS",
    "MOJIBAKE_SOURCES", "SHARES", "SOURCES", "Composer", "Doc", "ProsePool", "SourceBuild",
    "build_pool", "bullet_text", "generate", "has_control_chars", "humanize", "jaccard",
    "lorem_paragraphs", "mis_decode", "re_encode", "repetitive_text", "stdlib_root",
    "symbol_soup",
]
