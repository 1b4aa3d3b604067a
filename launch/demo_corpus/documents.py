"""Documents, the planted items that refer to them, and the planting helpers every source shares."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

from launch.demo_corpus.layout import MIN_DOCS
from launch.demo_corpus.material import (
    BULLET_INTROS,
    BULLET_MARKERS,
    CONTROL_SEQUENCES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    FOREIGN,
    FOREIGN_SENTENCES_PER_DOC,
    FOREIGN_TARGETS,
    LAST_NAMES,
    LOREM_WORDS,
    MOJIBAKE_SOURCES,
    PII_TEMPLATES,
    SHORT_OPENERS,
    SHORT_TAILS,
    SYMBOLS,
)
from launch.demo_corpus.prose import ProsePool, jaccard, mis_decode
from pipeline.document import document_id


@dataclasses.dataclass(eq=False)
class Doc:
    source: str
    text: str
    meta: dict[str, Any]
    location: str = ""
    planted: bool = False    # made by planting (a copy, junk, non-English...), not ordinary
    modified: bool = False   # an ordinary document altered in place (PII, mojibake...)
    frozen: bool = False     # the original of a duplicate: must not be altered afterwards

    @property
    def doc_id(self) -> str:
        return document_id(self.source, self.location)

    def ref(self) -> dict[str, str]:
        return {"source": self.source, "location": self.location, "doc_id": self.doc_id}


class Composer:
    """Builds English text from the pool: runs of consecutive sentences, recombined."""

    def __init__(self, pool: ProsePool, rng: random.Random):
        self.pool, self.rng = pool, rng
        self.s = pool.sentences
        self.n = len(pool.sentences)

    def sentences(self, k: int) -> list[str]:
        # random() is several times cheaper than randrange() and this is the hot loop.
        out: list[str] = []
        rand, s, n = self.rng.random, self.s, self.n
        while len(out) < k:
            start = int(rand() * n)
            out.extend(s[start:start + 1 + int(rand() * 3)])
        return out[:k]

    def paragraph(self, lo: int = 2, hi: int = 6) -> str:
        return " ".join(self.sentences(self.rng.randint(lo, hi)))

    def unit(self) -> tuple[str, list[str]]:
        name, a, b = self.pool.units[self.rng.randrange(len(self.pool.units))]
        return name, list(self.s[a:min(b, a + 6)])

    def word(self) -> str:
        return self.pool.vocab[self.rng.randrange(len(self.pool.vocab))]


def count_of(n: int, rate: float, minimum: int) -> int:
    return max(minimum, round(rate * n))


class SourceBuild:
    """One source's documents, planted items and malformed inputs while they are built."""

    def __init__(self, name: str, role: str, fmt: str, folder: str, seed: int, pool: ProsePool):
        self.name, self.role, self.format, self.folder = name, role, fmt, folder
        self.rng = random.Random(f"demo-corpus:{seed}:{name}")
        self.compose = Composer(pool, self.rng)
        self.pool = pool
        self.docs: list[Doc] = []
        self.truth: list[dict[str, Any]] = []
        self.malformed: list[dict[str, Any]] = []
        self.boilerplate: list[dict[str, Any]] = []
        self.files: list[str] = []
        self.raw_bytes = 0
        self.documents = 0
        self.pii_made = 0  # PII sentences so far: templates cycle so every kind appears
        self.readable_extra: list[Doc] = []  # documents outside self.docs a reader still gets

    def new(self, text: str, **meta: Any) -> Doc:
        return Doc(self.name, text, meta)

    def ordinary(self) -> list[Doc]:
        return [d for d in self.docs if not d.planted]

    def pick_originals(self, k: int) -> list[Doc]:
        pool = [d for d in self.ordinary() if not d.modified and not d.frozen]
        if len(pool) < k:
            pool = [d for d in self.ordinary() if not d.modified]
        chosen = self.rng.sample(pool, min(k, len(pool)))
        for d in chosen:
            d.frozen = True
        return chosen

    def pick_to_modify(self, k: int) -> list[Doc]:
        pool = [d for d in self.ordinary() if not d.modified and not d.frozen]
        chosen = self.rng.sample(pool, min(k, len(pool)))
        for d in chosen:
            d.modified = True
        return chosen

    def insert(self, doc: Doc) -> Doc:
        doc.planted = True
        self.docs.insert(self.rng.randrange(len(self.docs) + 1), doc)
        return doc

    def record(self, doc: Doc, category: str, **details: Any) -> None:
        self.truth.append({"doc": doc, "category": category, "details": details})


# ---------------------------------------------------------------------------------------------
# Planting helpers shared by the sources.

def edit_words(text: str, fraction: float, rng: random.Random, vocab: tuple[str, ...],
               clustered: bool) -> tuple[str, dict[str, int], float]:
    """Substitutes, deletes or inserts words at `fraction` of word positions (line structure
    kept). Returns the new text, the edit counts and the actual fraction of words edited."""
    lines = [line.split(" ") if line else [] for line in text.split("\n")]
    positions = [(i, j) for i, words in enumerate(lines) for j in range(len(words))]
    n = len(positions)
    k = max(1, round(fraction * n))
    if clustered:
        start = rng.randrange(max(1, n - k))
        chosen = positions[start:start + k]
    else:
        chosen = sorted(rng.sample(positions, k))
    ops = {"substitute": 0, "delete": 0, "insert": 0}
    for i, j in reversed(chosen):  # from the end, so earlier indices stay valid
        op = rng.choice(("substitute", "substitute", "delete", "insert"))
        ops[op] += 1
        if op == "substitute":
            new = vocab[rng.randrange(len(vocab))]
            while new == lines[i][j].lower():
                new = vocab[rng.randrange(len(vocab))]
            lines[i][j] = new
        elif op == "delete":
            del lines[i][j]
        else:
            lines[i].insert(j + 1, vocab[rng.randrange(len(vocab))])
    return "\n".join(" ".join(words) for words in lines), ops, k / n


def make_pii(rng: random.Random, which: int) -> tuple[str, list[dict[str, str]]]:
    """A sentence holding PII (template `which`, cycling), and the PII strings in it."""
    kind, template = PII_TEMPLATES[which % len(PII_TEMPLATES)]
    values: dict[str, str] = {}
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    values["email"] = f"{first}.{last}{rng.randint(1, 99)}@{rng.choice(EMAIL_DOMAINS)}"
    values["ipv4"] = f"{rng.choice(('192.0.2', '198.51.100', '203.0.113'))}.{rng.randint(1, 254)}"
    values["ipv6"] = (f"2001:db8:{rng.randrange(1, 0x10000):x}:{rng.randrange(0x10000):x}::"
                      f"{rng.randrange(1, 0x10000):x}")
    if rng.random() < 0.5:
        values["phone"] = (f"+1 ({rng.choice((206, 212, 312, 415, 617))}) "
                           f"555-01{rng.randint(0, 99):02d}")
    else:
        values["phone"] = f"+44 20 7946 0{rng.randint(0, 999):03d}"
    sentence = template.format(**values)
    items = [{"kind": k, "value": values[k]} for k in kind.split("+")]
    return sentence, items


def _append_to_line(text: str, addition: str, rng: random.Random,
                    min_len: int = 40) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if len(line) >= min_len] or [len(lines) - 1]
    i = rng.choice(candidates)
    lines[i] = f"{lines[i]} {addition}"
    return "\n".join(lines)


def plant_pii(b: SourceBuild, k: int, *, min_len: int = 40) -> None:
    for doc in b.pick_to_modify(k):
        items: list[dict[str, str]] = []
        for _ in range(b.rng.randint(1, 2)):
            sentence, new_items = make_pii(b.rng, b.pii_made)
            b.pii_made += 1
            doc.text = _append_to_line(doc.text, sentence, b.rng, min_len)
            items.extend(new_items)
        b.record(doc, "pii", items=items)


def plant_mojibake(b: SourceBuild, k: int) -> None:
    for doc in b.pick_to_modify(k):
        originals = b.rng.sample(MOJIBAKE_SOURCES, 2)
        fragments = [mis_decode(s) for s in originals]
        for frag in fragments:
            doc.text = _append_to_line(doc.text, frag, b.rng)
        b.record(doc, "mojibake", fragments=fragments, originals=originals,
                 encoding="utf-8 bytes decoded as cp1252")


def plant_control_chars(b: SourceBuild, k: int) -> None:
    for doc in b.pick_to_modify(k):
        words = doc.text.split(" ")
        inserted = []
        for _ in range(b.rng.randint(3, 6)):
            seq = b.rng.choice(CONTROL_SEQUENCES)
            i = b.rng.randrange(1, len(words))
            words[i] = seq + words[i]
            inserted.append(seq)
        doc.text = " ".join(words)
        b.record(doc, "control_chars", inserted=inserted, count=len(inserted))


def plant_exact_duplicates(b: SourceBuild, k: int, copy_meta: Callable[[Doc], dict]) -> None:
    for orig in b.pick_originals(k):
        dup = b.insert(b.new(orig.text, **copy_meta(orig)))
        b.record(dup, "exact_duplicate", original=orig, scope="within_source")


def plant_near_duplicates(b: SourceBuild, k: int, copy_meta: Callable[[Doc], dict]) -> None:
    for orig in b.pick_originals(k):
        clustered = b.rng.random() < 0.5
        fraction = b.rng.uniform(0.03, 0.20) if clustered else b.rng.uniform(0.02, 0.10)
        text, ops, actual = edit_words(orig.text, fraction, b.rng, b.pool.vocab, clustered)
        dup = b.insert(b.new(text, **copy_meta(orig)))
        b.record(dup, "near_duplicate", original=orig, mode="clustered" if clustered else
                 "scattered", edit_fraction=round(actual, 4), edits=ops,
                 word_5gram_jaccard=round(jaccard(orig.text, text), 4))


def symbol_soup(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(8, 20)):
        tokens = ("".join(rng.choice(SYMBOLS) for _ in range(rng.randint(3, 12)))
                  for _ in range(rng.randint(5, 12)))
        lines.append(" ".join(tokens))
    return "\n".join(lines)


def lorem_paragraphs(rng: random.Random, k: int) -> list[str]:
    paras = []
    for p in range(k):
        sentences = ["Lorem ipsum dolor sit amet, consectetur adipiscing elit."] if p == 0 else []
        for _ in range(rng.randint(3, 6)):
            words = [rng.choice(LOREM_WORDS) for _ in range(rng.randint(6, 14))]
            sentences.append(" ".join(words).capitalize() + ".")
        paras.append(" ".join(sentences))
    return paras


def bullet_text(b: SourceBuild) -> str:
    marker = b.rng.choice(BULLET_MARKERS)
    lines = [b.rng.choice(BULLET_INTROS)]
    for _ in range(b.rng.randint(16, 30)):
        lines.append(marker + " ".join(b.compose.word() for _ in range(b.rng.randint(2, 5))))
    return "\n".join(lines)


def repetitive_text(b: SourceBuild) -> tuple[str, str, int]:
    line = b.compose.sentences(1)[0]
    times = b.rng.randint(20, 40)
    return "\n".join([line] * times), line, times


def short_text(b: SourceBuild, used: set[str]) -> str:
    while True:
        text = (f"{b.rng.choice(SHORT_OPENERS)} "
                + b.rng.choice(SHORT_TAILS).format(n=b.rng.randint(100, 99999)))
        if text not in used:
            used.add(text)
            return text


def foreign_documents(seed: int) -> dict[str, list[tuple[str, list[str]]]]:
    """target source -> [(language, 5 sentences)]; a language's documents share no sentence."""
    rng = random.Random(f"demo-corpus:{seed}:foreign")
    out: dict[str, list[tuple[str, list[str]]]] = {t: [] for t in FOREIGN_TARGETS}
    per_doc = FOREIGN_SENTENCES_PER_DOC
    for li, (lang, sentences) in enumerate(FOREIGN.items()):
        order = list(sentences)
        rng.shuffle(order)
        n_docs = len(order) // per_doc
        targets = [FOREIGN_TARGETS[(li + j) % len(FOREIGN_TARGETS)] for j in range(n_docs)]
        for j, target in enumerate(targets):
            out[target].append((lang, order[j * per_doc:(j + 1) * per_doc]))
    return out


def fill(b: SourceBuild, budget: float, make: Callable[[], Doc],
          size: Callable[[Doc], int] = lambda d: len(d.text)) -> None:
    used = 0
    while used < budget or len(b.docs) < MIN_DOCS[b.name]:
        doc = make()
        b.docs.append(doc)
        used += size(doc)
