"""The prose pool, read from the standard library's docstrings and text files, and small text
helpers."""

from __future__ import annotations

import ast
import concurrent.futures
import dataclasses
import functools
import gc
import html
import math
import multiprocessing
import os
import re
import sysconfig
import unicodedata
from concurrent.futures.process import BrokenProcessPool

_TEST_DIRS = frozenset({"test", "tests", "idle_test"})
_SKIP_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__"})
_TEXT_SUFFIXES = (".txt", ".rst", ".md", ".html")
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_BAD_SENTENCE = re.compile(
    r"[{}\[\]<>=|\\`*#@$%^~]|::|\.\.\.|\d+\.\d+\.\d+|https?:|www\.|\blorem\b|\bipsum\b|cookie"
    r"|javascript|\d{3}[-. ]\d{4}|\b(?:TODO|XXX|FIXME)\b|\bDO NOT EDIT\b|\bwrote:", re.IGNORECASE)
_WORD = re.compile(r"[a-z]{3,12}")


@dataclasses.dataclass(frozen=True)
class ProsePool:
    """Sentences in reading order (so neighbours are coherent), grouped into units."""

    sentences: tuple[str, ...]
    units: tuple[tuple[str, int, int], ...]  # (qualified name, first sentence, end)
    vocab: tuple[str, ...]  # lower-case words used to substitute or insert in near-duplicates
    code_files: tuple[str, ...]  # stdlib .py files outside test folders, sorted, '/'-separated
    code_test_files: tuple[str, ...]  # .py files inside test folders, used only for big corpora
    root: str
    docstrings: int
    text_files: int


def stdlib_root() -> str:
    return sysconfig.get_paths()["stdlib"]


def _list_stdlib(root: str) -> tuple[list[str], list[str], list[str]]:
    """(code files, test code files, text files) as sorted '/'-separated relative paths."""
    code, tests, texts = [], [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS
                             and not d.startswith(("config-", "lib-dynload")))
        rel_dir = os.path.relpath(dirpath, root)
        parts = [] if rel_dir == "." else rel_dir.split(os.sep)
        in_tests = any(p in _TEST_DIRS for p in parts)
        for name in sorted(filenames):
            rel = "/".join(parts + [name])
            if name.endswith(".py"):
                (tests if in_tests else code).append(rel)
            elif not in_tests and (name.endswith(_TEXT_SUFFIXES)
                                   or name.startswith(("README", "LICENSE"))):
                texts.append(rel)
    return sorted(code), sorted(tests), sorted(texts)


def _module_name(rel: str) -> str:
    name = rel[:-3].replace("/", ".")
    return name.removesuffix(".__init__")


def _docstrings_of(root: str, rels: list[str]) -> list[tuple[str, str]]:
    """(qualified name, docstring) for every module, class and function docstring in the files.

    Runs in worker processes; ast object creation is much faster with the cyclic GC paused.
    """
    out: list[tuple[str, str]] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rel in rels:
            try:
                with open(os.path.join(root, rel), "rb") as f:
                    tree = ast.parse(f.read().decode("utf-8"))
            except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
                continue
            module = _module_name(rel)
            if rel == "pydoc_data/topics.py":  # the help topics: a dict of reference prose
                for node in tree.body:
                    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                        for key, value in zip(node.value.keys, node.value.values):
                            if (isinstance(key, ast.Constant) and isinstance(value, ast.Constant)
                                    and isinstance(value.value, str)):
                                out.append((f"{module}.{key.value}", value.value))
                continue
            stack: list[tuple[ast.AST, str]] = [(tree, module)]
            while stack:
                node, name = stack.pop(0)
                doc = ast.get_docstring(node, clean=True)  # type: ignore[arg-type]
                if doc:
                    out.append((name, doc))
                for child in getattr(node, "body", ()):
                    if isinstance(child, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                        stack.append((child, f"{name}.{child.name}"))
            del tree
    finally:
        if gc_was_enabled:
            gc.enable()
    return out


def _extract_all_docstrings(root: str, rels: list[str]) -> list[tuple[str, str]]:
    """Docstrings of all files, in file order; parallel where there are several CPUs."""
    workers = min(8, os.cpu_count() or 1)
    if workers <= 1 or len(rels) < 50:
        return _docstrings_of(root, rels)
    chunk = math.ceil(len(rels) / (workers * 4))
    chunks = [rels[i:i + chunk] for i in range(0, len(rels), chunk)]
    try:
        # 'spawn' is safe whatever threads the caller runs (Beam, pytest plugins).
        with concurrent.futures.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_docstrings_of, [root] * len(chunks), chunks))
    except (OSError, RuntimeError, BrokenProcessPool):
        return _docstrings_of(root, rels)  # same result, only slower
    return [item for part in parts for item in part]


def _html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style|pre)[^>]*>.*?</\1>", "\n\n", markup)
    markup = re.sub(r"(?i)</?(p|div|h\d|li|ul|ol|br|tr|dd|dt|dl|table|section)\b[^>]*>", "\n\n",
                    markup)
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _prose_blocks(text: str) -> list[str]:
    """Paragraphs of running prose: no doctest, no indented code, no bullets or headings."""
    blocks = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        if any(line.startswith((" ", "\t")) or line.lstrip().startswith((">>>", "..."))
               for line in lines):
            continue
        if lines[0].lstrip().startswith(("-", "*", "+", "#", "=", ":", "|")):
            continue
        blocks.append(" ".join(line.strip() for line in lines))
    return blocks


def _good_sentence(s: str) -> bool:
    if not s.isascii() or not s.isprintable():
        return False
    words = s.split()
    if not 6 <= len(words) <= 45 or not s[0].isupper() or s[-1] not in ".!?":
        return False
    if _BAD_SENTENCE.search(s):
        return False
    nonspace = len(s) - s.count(" ")
    if sum(c.isalpha() for c in s) < 0.8 * nonspace:
        return False
    codeish = sum(1 for w in words if "_" in w or "(" in w or "." in w[:-1])
    return codeish <= 0.15 * len(words)


def _sentences_of(text: str) -> list[str]:
    out = []
    for block in _prose_blocks(text):
        for s in _SENTENCE_SPLIT.split(re.sub(r"\s+", " ", block).strip()):
            if _good_sentence(s):
                out.append(s)
    return out


@functools.lru_cache(maxsize=4)
def build_pool(root: str | None = None) -> ProsePool:
    """Reads the stdlib once per process (cached): sentences, vocabulary and code file list."""
    root = root or stdlib_root()
    code, tests, texts = _list_stdlib(root)
    units_raw: list[tuple[str, str]] = _extract_all_docstrings(root, code)
    n_docstrings = len(units_raw)
    for rel in texts:
        try:
            with open(os.path.join(root, rel), "rb") as f:
                raw = f.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        units_raw.append((rel, _html_to_text(raw) if rel.endswith(".html") else raw))
    sentences: list[str] = []
    seen: set[str] = set()
    units = []
    for name, text in units_raw:
        start = len(sentences)
        for s in _sentences_of(text):
            if s not in seen:
                seen.add(s)
                sentences.append(s)
        if len(sentences) > start:
            units.append((name, start, len(sentences)))
    if len(sentences) < 500:
        raise RuntimeError(f"only {len(sentences)} prose sentences found in the standard library "
                           f"at {root}; is it a complete CPython installation?")
    vocab = sorted({w for s in sentences for w in _WORD.findall(s.lower())})
    return ProsePool(sentences=tuple(sentences), units=tuple(units), vocab=tuple(vocab),
                     code_files=tuple(code), code_test_files=tuple(tests), root=root,
                     docstrings=n_docstrings, text_files=len(texts))


# ---------------------------------------------------------------------------------------------
# Small text helpers.

@functools.lru_cache(maxsize=65536)
def humanize(qualname: str) -> str:
    """'asyncio.base_events.BaseEventLoop.create_server' -> 'create server'."""
    parts = [p for p in qualname.replace("/", ".").split(".") if p.strip("_")
             and p not in ("py", "txt", "rst", "html", "__init__")]
    last = parts[-1].strip("_") if parts else "python"
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", last).replace("_", " ").split()
    return " ".join(words).lower() or "python"


def slugify(text: str, limit: int = 48) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].strip("-") or "untitled"


def word_shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = text.lower().split()
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = word_shingles(a, n), word_shingles(b, n)
    union = len(sa | sb)
    return len(sa & sb) / union if union else 1.0


def mis_decode(text: str) -> str:
    """UTF-8 bytes read as cp1252 (latin-1 for the 5 bytes cp1252 leaves undefined)."""
    out = []
    for ch in text:
        if ord(ch) < 128:
            out.append(ch)
            continue
        for b in ch.encode("utf-8"):
            try:
                out.append(bytes([b]).decode("cp1252"))
            except UnicodeDecodeError:
                out.append(chr(b))
    return "".join(out)


def re_encode(mojibake: str) -> str:
    """Inverse of mis_decode (used by tests and by anyone checking a fix)."""
    data = bytearray()
    for ch in mojibake:
        try:
            data += ch.encode("cp1252")
        except UnicodeEncodeError:
            data += bytes([ord(ch)])
    return data.decode("utf-8")


def has_control_chars(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" and c not in "\n\t\r" for c in text)


def short_title(sentence: str) -> str:
    if " " not in sentence:  # Chinese, Japanese: no spaces
        return sentence[:12]
    words = [w.strip(".,;:!?¿¡،।") for w in sentence.split()[:6]]
    return " ".join(w for w in words if w)
