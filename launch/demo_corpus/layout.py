"""What the demo corpus holds: its sources, their shares and folders, and the evaluation set."""

from __future__ import annotations

import datetime as dt

GENERATOR_VERSION = 1
# The name every corpus records as its generator (WARC warcinfo records, corpus.json,
# ground_truth.json). It is the module's first home, kept when the module moved from pipeline/
# to launch/: a WET record's byte offset is part of its document id, so renaming it here would
# change every id, and with them the prep, tokenizer and cache outputs of the same seed.
GENERATOR_NAME = "pipeline.demo_corpus"
MB = 1_000_000

# name, role, format, folder. Shares are of the raw (uncompressed) bytes; they roughly follow
# PaLM's mixture but give every format enough documents to exercise a reader.
SOURCES: tuple[tuple[str, str, str, str], ...] = (
    ("conversations", "conversations", "jsonl", "conversations"),
    ("webpages", "webpages", "warc", "webpages"),
    ("web_wet", "webpages", "wet", "wet"),
    ("books", "books", "text_dir", "books"),
    ("code", "code", "code_dir", "code"),
    ("wikipedia", "wikipedia", "parquet", "wikipedia"),
    ("news", "news", "jsonl", "news"),
)
SHARES = {
    "conversations": 0.30, "webpages": 0.24, "web_wet": 0.04, "books": 0.14, "code": 0.10,
    "wikipedia": 0.10, "news": 0.08,
}
# Below these, planting a few items per category would leave no ordinary documents.
MIN_DOCS = {
    "conversations": 40, "webpages": 20, "web_wet": 12, "books": 6, "code": 10,
    "wikipedia": 15, "news": 20,
}
MAX_CODE_FILE_BYTES = 150_000
BASE_TIME = dt.datetime(2026, 1, 5, 8, 0, 0)
WEB_HTML_OVERHEAD = 900  # bytes of boilerplate markup around an article, for the size budget

EVAL_FOLDER = "eval_sets"
EVAL_SET = "demo_eval"
EVAL_FILE = f"{EVAL_FOLDER}/{EVAL_SET}.jsonl"
# Sources whose documents the evaluation set copies from: curated ones that the quality
# classifier does not filter, so every planted contamination reaches decontamination.
EVAL_COPY_FROM = ("books", "wikipedia", "conversations")
EVAL_CONTAMINATED = 12
EVAL_UNRELATED = 24
EVAL_SPAN_WORDS = 16   # >= 13 (the n-gram decontamination matches by default)
OUTPUT_FOLDERS = tuple(folder for _, _, _, folder in SOURCES) + (EVAL_FOLDER,)
OUTPUT_FILES = ("sources.yaml", "ground_truth.json", "corpus.json")
