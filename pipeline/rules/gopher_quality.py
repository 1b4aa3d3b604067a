"""Gopher quality rules (Rae et al. 2021, Table A1), tuned to agree with datatrove 0.10.

datatrove's `GopherQualityFilter` counts words with spaCy's blank English tokenizer (via
`split_into_words`), so the word list decides most keep/drop outcomes: the share of words with a
letter is about 0.85 on ordinary prose, close to the 0.8 threshold, and every comma or period that
spaCy splits off is a "word" in that ratio. `split_words` below reproduces spaCy's algorithm on
each whitespace-separated chunk (special cases, then prefixes/suffixes peeled off alternately,
then infixes, URLs kept whole) with our own tables and regexes, and memoises chunks, so a typical
document costs one `str.split` plus dictionary look-ups. The repetition and C4 rules reuse
`split_words` so all three see the words datatrove sees.

Semantics matched (datatrove 0.10.1):
- words = tokens with whitespace removed; "non-symbol words" = tokens with a character outside
  datatrove's punctuation set; word count and mean word length use non-symbol words;
- `#` count and `...`/`…` count are divided by the count of *all* tokens;
- lines = `str.splitlines()`; bullet lines start (after left strip) with "•" or "-";
  ellipsis lines end (after right strip) with "..." or "…";
- alpha ratio = tokens with an alphabetic character / all tokens;
- stop words: number of *distinct* stop words present as exact (case-sensitive) tokens.

Known differences from spaCy (rare in prose, measured agreement is in the project benchmark):
the icon/emoji class is a range approximation of spaCy's symbol list; lower/upper-case classes
used by the `a.B` infix and by the trailing-period rule use `str.islower`/`str.isupper`; the
special-case table covers contractions, common abbreviations, clock times and frequent
emoticons rather than spaCy's full list; sentence-terminal punctuation covers the main scripts.
"""

from __future__ import annotations

import itertools
import re

from pipeline.rules.base import RuleResult

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")

# ---------------------------------------------------------------------------------------------
# Character classes. Written from spaCy's documented English punctuation rules (prefix, suffix,
# infix lists) and datatrove's punctuation set; each is a plain fact table.

_PUNCT_CHARS = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪"
_QUOTE_CHARS = "'\"”“`‘´’‚,„»«「」『』（）〔〕【】《》〈〉〈〉⟦⟧"
_CURRENCY_CHARS = "$£€¥฿₽﷼₴" + "".join(map(chr, range(0x20A0, 0x20C0)))
_HYPHENS = ("-", "–", "—", "--", "---", "——", "~")
# Symbols spaCy treats like punctuation (its "icons": a selection of category So). Ranges:
# broken bar, ©, ®, °, letterlike symbols, arrows, technical, enclosed, box drawing, shapes,
# dingbats, braille, misc arrows, and the emoji planes.
_ICON_RANGES = (
    "\u00a6\u00a9\u00ae\u00b0\u058d\u058e\u06de\u06e9\u2100-\u2101\u2103-\u2106\u2108"
    "\u2109\u2114\u2116\u2117\u211e-\u2123\u2125\u2127\u2129\u212e\u2195-\u21f3"
    "\u2300-\u23ff\u2400-\u244a\u249c-\u24e9\u2500-\u25f7\u2600-\u266e\u2670-\u2767"
    "\u2794-\u27bf\u2800-\u28ff\u2b00-\u2bfe\u3004\u3012\u3013\u3020\u3200-\u321e"
    "\u322a-\u3247\u3260-\u327f\u328a-\u32b0\u32c0-\u32fe\u3300-\u33ff\u4dc0-\u4dff"
    "\ufffc\ufffd\U0001f000-\U0001f0ff\U0001f110-\U0001f265\U0001f300-\U0001faff"
)
_ICON_RE = re.compile(f"[{_ICON_RANGES}]")

_PREFIX_SINGLE = frozenset("§%=—–" + _PUNCT_CHARS + _QUOTE_CHARS + _CURRENCY_CHARS)
_SUFFIX_SINGLE = frozenset(_PUNCT_CHARS + _QUOTE_CHARS + "—–")
# Characters after which a final period is split off (digits, lower-case letters, these
# symbols, punctuation and quotes).
_PERIOD_AFTER = frozenset("0123456789%²-+|" + _PUNCT_CHARS + _QUOTE_CHARS + "(?:)")

_UNITS = (
    "km² km³ km/h kmh km m² m³ m/s mbar mph mm² mm³ mm mg mb MB m dm² dm³ dm cm² cm³ cm ha µm "
    "µg nm yd in ft kg g t lb oz hPa Pa kb KB gb GB tb TB T G M K %"
).split()
_CURRENCY_WORDS = ("US$", "C$", "A$")
# A unit or currency glued to a number is split off ("10km" -> "10", "km").
_NUMBER_SUFFIX_RE = re.compile(
    r"(?<=[0-9])(?:{})$".format(
        "|".join(map(re.escape, sorted(_UNITS + list(_CURRENCY_WORDS), key=len, reverse=True)))
        + f"|[{re.escape(_CURRENCY_CHARS)}]|\\+"
    )
)
# Scripts without case, which spaCy counts as both lower and upper case (Hebrew, Arabic, Indic,
# Ethiopic, Hangul, kana, CJK), combining marks included.
_UNCASED = (
    "\u0591-\u05f4\u0620-\u064a\u066e-\u06d5\u06e5-\u06ff\u0750-\u077f\u0900-\u0dff"
    "\u1100-\u137f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
)
_UNCASED_RE = re.compile(f"[{_UNCASED}]")
_LOWER = "a-z\u00df-\u00f6\u00f8-\u00ff\u03ac-\u03ce\u0430-\u045f" + _UNCASED
_UPPER = "A-Z\u00c0-\u00d6\u00d8-\u00de\u0386-\u03ab\u0400-\u042f" + _UNCASED
_QUOTES_CLASS = re.escape(_QUOTE_CHARS)
_ALPHA = r"[^\W\d_]"
_INFIX_RE = re.compile(
    "|".join((
        r"\.\.+",
        "…",
        f"[{_ICON_RANGES}]",
        r"(?<=[0-9])[+\-*^](?=[0-9-])",
        f"(?<=[{_LOWER}{_QUOTES_CLASS}])\\.(?=[{_UPPER}{_QUOTES_CLASS}])",
        f"(?<={_ALPHA}),(?={_ALPHA})",
        f"(?<=[^\\W_])(?:{'|'.join(map(re.escape, _HYPHENS))})(?={_ALPHA})",
        f"(?<=[^\\W_])[:<>=/](?={_ALPHA})",
    ))
)
# Characters that can start an infix; a core without any of them needs no infix search.
_INFIX_TRIGGER_RE = re.compile(f"[.…,:<>=/+*^~\\-–—{_ICON_RANGES}]")
# URLs and e-mail-like strings are kept whole (spaCy's url_match is applied after affixes).
_URL_LABEL = "[0-9A-Za-z\u00a1-\uffff]"
_URL_RE = re.compile(
    r"(?:[\w+\-.]{2,}://)?(?:\S+(?::\S*)?@)?"
    # public IPv4 hosts only (spaCy, like the URL regex it follows, leaves private ones out)
    r"(?:(?!(?:10|127)(?:\.\d{1,3}){3})(?!(?:169\.254|192\.168)(?:\.\d{1,3}){2})"
    r"(?!172\.(?:1[6-9]|2\d|3[01])(?:\.\d{1,3}){2})"
    r"(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}"
    r"\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4])"
    rf"|(?:(?:{_URL_LABEL}[0-9A-Za-z\u00a1-\uffff_-]{{0,62}})?{_URL_LABEL}\.)+"
    rf"[{_LOWER}]{{2,63}})"
    r"(?::\d{2,5})?(?:[/?#]\S*)?"
)

# Sentence-final marks (Unicode's Sentence_Terminal, main scripts): they end a sentence for the
# sentencizer the C4 rule emulates, and are punctuation below.
SENTENCE_TERMINALS = frozenset(
    ".!?։؞؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉។៕‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉。﹒﹖﹗！．？｡"
)
# datatrove's punctuation set: a token made only of these is a "symbol", not a word.
PUNCTUATION_SET = frozenset(
    "!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»"
    + "".join(map(chr, [*range(0, 9), *range(11, 32), *range(127, 160)]))
) | SENTENCE_TERMINALS


def _build_special_cases() -> dict[str, tuple[str, ...]]:
    """Whole strings spaCy tokenizes by table rather than by rule."""
    special: dict[str, tuple[str, ...]] = {}

    def add(parts: tuple[str, ...], title: bool = True) -> None:
        special["".join(parts)] = parts
        if title and parts[0][:1].islower():
            titled = (parts[0][0].upper() + parts[0][1:],) + parts[1:]
            special["".join(titled)] = titled

    negatable = ("ai are ca could dare did do does had has have is may might must need ought "
                 "sha should was were wo would").split()
    pronouns = {  # base -> apostrophe suffixes it takes
        "i": "m d ll ve", "you": "d ll re ve", "he": "d ll s", "she": "d ll s", "it": "d ll s",
        "we": "d ll re ve", "they": "d ll re ve", "that": "d ll s", "this": "d ll s",
        "these": "d ll re ve", "those": "d ll re ve", "there": "d ll re s ve",
        "what": "d ll re s ve", "when": "d ll re s ve", "where": "d ll re s ve",
        "who": "d ll re s ve", "why": "d ll re s ve", "how": "d ll re s ve",
    }
    # Apostrophe-less spellings split the same way, except where the result is a real word.
    real_words = {"hell", "shell", "well", "ill", "its", "were", "shed", "whore"}
    for apo in ("'", "’"):
        for base in negatable:
            add((base, f"n{apo}t"))
            add((base, f"n{apo}t", f"{apo}ve"))
        for base in ("could", "might", "must", "should", "would"):
            add((base, f"{apo}ve"))
        for base, suffixes in pronouns.items():
            for suffix in suffixes.split():
                add((base, apo + suffix))
                if suffix in ("d", "ll"):
                    add((base, apo + suffix, f"{apo}ve"))
        add(("y" + apo, "all"))
        for word in ("em", "cause", "cos", "coz", "cuz", "bout", "nuff"):
            special[apo + word] = (apo + word,)
        for word in ("doin", "goin", "havin", "lovin", "nothin", "nuthin", "somethin", "ol"):
            special[word + apo] = (word + apo,)
            special[word.capitalize() + apo] = (word.capitalize() + apo,)
        for word in ("o", "ma"):
            form = f"{word}{apo}clock" if word == "o" else f"ma{apo}am"
            special[form] = (form,)
            special[form.capitalize()] = (form.capitalize(),)
        for word in ("s", "S", "d", "ll", "re", "ve", "m"):
            special[apo + word] = (apo + word,)
    for base in negatable:
        add((base, "nt"))
        add((base, "nt", "ve"))
    for base in ("could", "might", "must", "should", "would", "not"):
        add((base, "ve"))
    for base, suffixes in pronouns.items():
        forms = [(base, s) for s in suffixes.split()] + [(base, "d", "ve"), (base, "ll", "ve")]
        for parts in forms:
            if "".join(parts) not in real_words:
                add(parts)
    for parts in (("can", "not"), ("gon", "na"), ("got", "ta"), ("y", "all"), ("i", "m", "a")):
        add(parts)
    # Abbreviations kept whole with their period.
    abbreviations = (
        "Adm. Ak. Ala. Apr. Ariz. Ark. Aug. Bros. Calif. Co. Colo. Conn. Corp. D.C. Dec. Del. "
        "Dr. E.G. E.g. Feb. Fla. Ga. Gen. Gov. I.E. I.e. Ia. Id. Ill. Inc. Ind. Jan. Jr. Jul. "
        "Jun. Kan. Kans. Ky. La. Ltd. Mar. Mass. Md. Messrs. Mich. Minn. Miss. Mo. Mont. Mr. "
        "Mrs. Ms. Mt. N.C. N.D. N.H. N.J. N.M. N.Y. Neb. Nebr. Nev. Nov. Oct. Okla. Ore. Pa. "
        "Ph.D. Prof. Rep. Rev. S.C. Sen. Sep. Sept. St. Tenn. Va. Wash. Wis. a.m. co. e.g. "
        "i.e. p.m. v.s. vs. ä. ö. ü. C++ and/or w/o"
    ).split() + [f"{c}." for c in "abcdefghijklmnopqrstuvwxyz"]
    for abbreviation in abbreviations:
        special[abbreviation] = (abbreviation,)
    for hour in range(1, 13):
        for meridiem in ("am", "pm", "a.m.", "p.m."):
            special[f"{hour}{meridiem}"] = (str(hour), meridiem)
    emoticons = (
        ":) :-) :)) :( :-( :(( ;) ;-) :D :-D ;D :P :-P :p :-p :/ :-/ :| :-| :o :O :-o :-O "
        ":0 :3 :* :-* :] :-] :} :> :x :X <3 </3 <33 =) =( =D =/ =] =[ =| 8) 8-) 8D XD xD "
        "^_^ ^__^ -_- -__- o_O O_o o_o O_O o.O O.o o.o O.O :'( :') (: ): (; (-: )-: >.< >.> "
        "<.< @_@ ._. (^_^) (-_-) ¯\\(ツ)/¯ '' ’’ (= ]= [: [= [-: (-; (o: :)) :))) :((( :-)) "
        ":-))) :-(( :-((( :() :o) :-> :-0 :-3 :-X :-x :-} :’( :’) :'-( :'-) ;_; ;-D >:( >:o "
        ":1 =3 8-D 0.0 0.o 0_0 0_o o.0 o_0 V.V V_V v.v v_v XDD xDD (._.) (*_*) (>_<) (¬_¬) "
        "ಠ_ಠ ಠ︵ಠ"
    )
    for emoticon in emoticons.split():
        special[emoticon] = (emoticon,)
    return special


_SPECIAL = _build_special_cases()
_MAX_SPECIAL_PARTS = 6


def _prefix_len(s: str) -> int:
    first = s[0]
    if first == "." and s.startswith(".."):
        return len(s) - len(s.lstrip("."))
    if first in _PREFIX_SINGLE:
        return 1
    if first == "+":
        return 0 if s[1:2].isdigit() and s[1:2].isascii() else 1
    if s.startswith(_CURRENCY_WORDS):
        return s.index("$") + 1
    if _ICON_RE.match(first):
        return 1
    return 0


def _suffix_len(s: str) -> int:
    """Length of the left-most suffix that runs to the end of `s` (0 when none)."""
    n = len(s)
    best = 0
    last = s[-1]
    if last == ".":
        dots = n - len(s.rstrip("."))
        if dots >= 2:
            return dots
        if n >= 2:
            prev = s[-2]
            if (prev in _PERIOD_AFTER or prev.islower() or _UNCASED_RE.match(prev)
                    or (prev.isupper() and n >= 3 and s[-3].isupper())
                    or (n >= 3 and s[-3] == "°" and prev in "FfCcKk")):
                best = 1
    elif last in _SUFFIX_SINGLE:
        best = 2 if s.endswith("……") else 1
    elif _ICON_RE.match(last):
        best = 1
    elif n >= 2 and last in "sS" and s[-2] in "'’":
        best = 2
    match = _NUMBER_SUFFIX_RE.search(s)
    if match and n - match.start() > best:
        best = n - match.start()
    return best


def _split_infixes(core: str, out: list[str]) -> None:
    if core in _SPECIAL:
        out.extend(_SPECIAL[core])
        return
    if not _INFIX_TRIGGER_RE.search(core) or _URL_RE.fullmatch(core):
        out.append(core)
        return
    start = 0
    for match in _INFIX_RE.finditer(core):
        begin, end = match.span()
        if begin == 0:
            continue
        if begin != start:
            out.append(core[start:begin])
        out.append(core[begin:end])
        start = end
    if start < len(core):
        out.append(core[start:])


def _split_chunk(chunk: str) -> tuple[str, ...]:
    """spaCy's per-chunk algorithm: peel prefixes and suffixes, then split infixes."""
    special = _SPECIAL.get(chunk)
    if special is not None:
        return special
    if chunk.isalpha():
        return (chunk,)
    prefixes: list[str] = []
    suffixes: list[str] = []
    s = chunk
    while s:
        if s in _SPECIAL:
            break
        size = len(s)
        pre = _prefix_len(s)
        if pre and s[pre:] in _SPECIAL:
            prefixes.append(s[:pre])
            s = s[pre:]
            break
        suf = _suffix_len(s[pre:]) if pre < size else 0
        if suf and s[:-suf] in _SPECIAL:
            suffixes.append(s[-suf:])
            s = s[:-suf]
            break
        if pre and suf and pre + suf <= size:
            prefixes.append(s[:pre])
            suffixes.append(s[-suf:])
            s = s[pre:-suf]
        elif pre:
            prefixes.append(s[:pre])
            s = s[pre:]
        elif suf:
            suffixes.append(s[-suf:])
            s = s[:-suf]
        if len(s) == size:
            break
    tokens = prefixes
    if s:
        _split_infixes(s, tokens)
    tokens.extend(reversed(suffixes))
    if len(tokens) > 1:
        _merge_special_spans(tokens)
    return tuple(tokens)


def _merge_special_spans(tokens: list[str]) -> None:
    """Like spaCy's special-case matcher: adjacent tokens that spell a special case (an
    emoticon such as "):", an abbreviation such as "d.") are replaced by its tokens."""
    i = 0
    while i < len(tokens) - 1:
        for j in range(min(len(tokens), i + _MAX_SPECIAL_PARTS), i + 1, -1):
            replacement = _SPECIAL.get("".join(tokens[i:j]))
            if replacement is not None and list(replacement) != tokens[i:j]:
                tokens[i:j] = replacement
                i += len(replacement) - 1
                break
        i += 1


# Per-chunk memo. Web text repeats the same chunks endlessly, so nearly every look-up is a hit;
# both memos are cleared together when they grow past _MEMO_LIMIT, bounding worker memory.
# _PACKED holds the chunk's four counts in one int (32 bits each: tokens, non-symbol words,
# tokens with a letter, characters of non-symbol words) so a whole document is summed by one
# C-level `sum(map(...))`.
_MEMO_LIMIT = 200_000
_MEMO_MAX_CHUNK = 64
_FIELD = 32
_MASK = (1 << _FIELD) - 1


def _learn(chunk: str) -> tuple[tuple[str, ...], int]:
    if chunk.isalpha() and chunk not in _SPECIAL:  # the common case: one plain word
        tokens = (chunk,)
        packed = 1 | 1 << _FIELD | 1 << 2 * _FIELD | len(chunk) << 3 * _FIELD
    else:
        tokens = _split_chunk(chunk)
        words = [t for t in tokens if not PUNCTUATION_SET.issuperset(t)]
        with_alpha = sum(1 for t in tokens if any(c.isalpha() for c in t))
        packed = (len(tokens) | len(words) << _FIELD | with_alpha << 2 * _FIELD
                  | sum(map(len, words)) << 3 * _FIELD)
    if len(chunk) <= _MEMO_MAX_CHUNK:
        if len(_TOKENS) >= _MEMO_LIMIT:
            _TOKENS.clear()
            _PACKED.clear()
        _TOKENS[chunk] = tokens
        _PACKED[chunk] = packed
    return tokens, packed


class _TokenMemo(dict):
    def __missing__(self, chunk: str) -> tuple[str, ...]:
        return _learn(chunk)[0]


class _PackedMemo(dict):
    def __missing__(self, chunk: str) -> int:
        return _learn(chunk)[1]


_TOKENS = _TokenMemo()
_PACKED = _PackedMemo()


def split_words(text: str) -> list[str]:
    """Words as datatrove 0.10 gets them for English (spaCy tokens without whitespace)."""
    return list(itertools.chain.from_iterable(map(_TOKENS.__getitem__, text.split())))


def word_counts(chunks: list[str]) -> tuple[int, int, int, int]:
    """(tokens, non-symbol words, tokens with a letter, characters of non-symbol words) of
    a text given as its whitespace-separated chunks."""
    total = sum(map(_PACKED.__getitem__, chunks))
    return (total & _MASK, total >> _FIELD & _MASK, total >> 2 * _FIELD & _MASK,
            total >> 3 * _FIELD)


class GopherQuality:
    """Drops documents failing Gopher's quality heuristics; the first failing check names
    the reason ("gopher_quality.<check>"), checks running in datatrove's order."""

    name = "gopher_quality"

    def __init__(self, *, min_words: int = 50, max_words: int = 100_000,
                 min_avg_word_length: float = 3.0, max_avg_word_length: float = 10.0,
                 max_symbol_word_ratio: float = 0.1, max_bullet_lines_ratio: float = 0.9,
                 max_ellipsis_lines_ratio: float = 0.3, min_alpha_word_ratio: float = 0.8,
                 min_stop_words: int = 2, stop_words: tuple = STOP_WORDS):
        self.min_words = int(min_words)
        self.max_words = int(max_words)
        self.min_avg_word_length = float(min_avg_word_length)
        self.max_avg_word_length = float(max_avg_word_length)
        self.max_symbol_word_ratio = float(max_symbol_word_ratio)
        self.max_bullet_lines_ratio = float(max_bullet_lines_ratio)
        self.max_ellipsis_lines_ratio = float(max_ellipsis_lines_ratio)
        self.min_alpha_word_ratio = float(min_alpha_word_ratio)
        self.min_stop_words = int(min_stop_words)
        self.stop_words = frozenset(stop_words)
        # stop words that are a token of their own when they are a whole chunk
        self._plain_stop_words = frozenset(w for w in self.stop_words if _split_chunk(w) == (w,))

    def check(self, text: str) -> str | None:
        """The name of the first failing check, or None."""
        chunks = text.split()
        n_tokens, n_words, n_alpha, word_chars = word_counts(chunks)
        if n_words < self.min_words or n_words == 0:
            return "word_count_low"
        if n_words > self.max_words:
            return "word_count_high"
        avg_length = word_chars / n_words
        if avg_length < self.min_avg_word_length:
            return "avg_word_length_low"
        if avg_length > self.max_avg_word_length:
            return "avg_word_length_high"
        if text.count("#") / n_tokens > self.max_symbol_word_ratio:
            return "symbol_word_ratio"
        if (text.count("...") + text.count("…")) / n_tokens > self.max_symbol_word_ratio:
            return "symbol_word_ratio"
        lines = text.splitlines()
        bullets = sum(1 for line in lines if line.lstrip().startswith(("•", "-")))
        if bullets / len(lines) > self.max_bullet_lines_ratio:
            return "bullet_lines"
        ellipses = sum(1 for line in lines if line.rstrip().endswith(("...", "…")))
        if ellipses / len(lines) > self.max_ellipsis_lines_ratio:
            return "ellipsis_lines"
        if n_alpha / n_tokens < self.min_alpha_word_ratio:
            return "alpha_word_ratio"
        if self._count_stop_words(chunks) < self.min_stop_words:
            return "stop_words"
        return None

    def _count_stop_words(self, chunks: list[str]) -> int:
        # Stop words almost always stand alone as a chunk ("the"), so the set of chunks usually
        # settles the question without tokenizing; only then fall back to all tokens.
        found = self._plain_stop_words.intersection(chunks)
        if len(found) >= self.min_stop_words:
            return len(found)
        vocabulary = set(itertools.chain.from_iterable(map(_TOKENS.__getitem__, chunks)))
        return len(self.stop_words & vocabulary)

    def __call__(self, text: str) -> RuleResult:
        failed = self.check(text)
        return RuleResult(text, None if failed is None else f"{self.name}.{failed}")
