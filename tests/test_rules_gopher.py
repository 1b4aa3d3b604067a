"""Gopher quality and repetition rules: one crafted document per check, plus the word splitter
that decides agreement with datatrove, and the fast repetition paths against a plain
re-statement of datatrove's algorithm."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import registry
from pipeline.rules import gopher_repetition as gr
from pipeline.rules import languages as gq_languages
from pipeline.rules.gopher_quality import GopherQuality, split_words
from pipeline.rules.gopher_repetition import GopherRepetition

BASE = (
    "The old lighthouse stood at the edge of the cliff, watching over the harbor with patient "
    "attention. Every evening the keeper climbed the narrow stairs to light the lamp, and every "
    "morning he wrote a short note in his logbook about the weather and the ships that passed. "
    "Visitors often asked him whether he felt lonely, but he always said that the sea was "
    "company enough for a man who liked quiet work."
)
SENTENCES = [s.strip() + "." for s in BASE.split(".") if s.strip()]


def quality(text: str, **params) -> str | None:
    return GopherQuality(**params)(text).drop_reason


def repetition(text: str, **params) -> str | None:
    return GopherRepetition(**params)(text).drop_reason


# --- the word splitter (spaCy's English tokenizer, as datatrove uses it) ---------------------

@pytest.mark.parametrize("text, words", [
    ("Hello world!", ["Hello", "world", "!"]),
    ("I don't think it's done", ["I", "do", "n't", "think", "it", "'s", "done"]),
    ('"well-known" (U.S.) e.g.', ['"', "well", "-", "known", '"', "(", "U.S.", ")", "e.g."]),
    ("costs $5.99 or 10km...", ["costs", "$", "5.99", "or", "10", "km", "..."]),
    ("See https://example.com/a?b=1.", ["See", "https://example.com/a?b=1", "."]),
    ("Mr. Smith's dog—ran.", ["Mr.", "Smith", "'s", "dog", "—", "ran", "."]),
    ("end...Next hello.World A.B.", ["end", "...", "Next", "hello", ".", "World", "A.B."]),
    ("3.14 1,000 #tag :) x/y", ["3.14", "1,000", "#", "tag", ":)", "x", "/", "y"]),
    ("(1). 2-3 COVID-19 5pm cannot", ["(", "1", ")", ".", "2", "-", "3", "COVID-19", "5",
                                      "pm", "can", "not"]),
    ("ABC. A. 100% wow!!!", ["ABC", ".", "A.", "100", "%", "wow", "!", "!", "!"]),
])
def test_split_words_matches_spacy(text, words):
    assert split_words(text) == words


# --- quality ---------------------------------------------------------------------------------

def test_base_text_is_kept():
    assert quality(BASE) is None


def test_word_count_low():
    assert quality(" ".join(BASE.split()[:30])) == "gopher_quality.word_count_low"
    assert quality("") == "gopher_quality.word_count_low"


def test_word_count_high():
    assert quality(BASE, max_words=60) == "gopher_quality.word_count_high"


def test_punctuation_is_not_a_word_in_datatrove_mode():
    # 49 words and a lot of punctuation tokens: still too short for datatrove; whitespace
    # words (the default, the Gopher paper's) count each loose mark as a word.
    text = " ".join(BASE.split()[:49]) + " , . ; ! ? -- ..."
    assert quality(text, max_symbol_word_ratio=1.0,
                   word_definition="datatrove") == "gopher_quality.word_count_low"
    assert quality(text, max_symbol_word_ratio=1.0, max_ellipsis_lines_ratio=1.0) is None


def test_datatrove_mode_uses_the_tokens_the_agreement_runs_measured():
    """The datatrove-identical mode is what benchmarks/bench_prep.py compares with datatrove
    (identical decisions on 24k documents): it must keep using datatrove's tokens."""
    text = BASE + " (see: e.g. 10km...) " * 3
    assert GopherRepetition(word_definition="datatrove")._words(text, "de") == split_words(text)
    rule = GopherQuality(word_definition="datatrove")
    assert rule.check(text, "ja") == (rule.check_datatrove(text), ())


def test_avg_word_length_low():
    text = "I am at it and so be it, to me or to us. " * 8
    assert quality(text) == "gopher_quality.avg_word_length_low"


def test_avg_word_length_high():
    text = ("The internationalization and institutionalization of telecommunications "
            "infrastructure with characteristically counterrevolutionary ") * 6
    assert quality(text) == "gopher_quality.avg_word_length_high"


def test_hash_ratio():
    text = BASE + " #lighthouse #harbor #keeper #stairs #lamp #logbook #weather #ships #sea #quiet"
    assert quality(text) == "gopher_quality.symbol_word_ratio"


def test_ellipsis_ratio():
    text = BASE + " wait... " * 10
    assert quality(text) == "gopher_quality.symbol_word_ratio"


def test_bullet_lines():
    lines = ["• " + s for s in SENTENCES] + ["- one more item in the list"]
    assert quality("\n".join(lines)) == "gopher_quality.bullet_lines"
    # 90 % exactly is allowed: the rule is "more than".
    nine_of_ten = ["- " + w for w in BASE.split(".")[0].split()[:9]] + [BASE]
    assert quality("\n".join(nine_of_ten)) is None


def test_ellipsis_lines():
    lines = [s[:-1] + "..." if i % 2 else s for i, s in enumerate(SENTENCES)]
    assert quality("\n".join(lines)) == "gopher_quality.ellipsis_lines"


def test_alpha_word_ratio():
    numbers = " ".join(str(1000 + i) for i in range(40))
    assert quality(BASE + " " + numbers) == "gopher_quality.alpha_word_ratio"


def test_stop_words():
    text = ("Cats sleep quietly near warm windows during long afternoons while dreaming about "
            "birds in distant gardens. Dogs bark loudly whenever strangers approach their "
            "houses at night. Children play outside until dinner time arrives while parents "
            "call them home. Farmers harvest wheat before autumn rain begins falling across "
            "wide fields. Sailors mend nets on quiet beaches after stormy weeks at sea.")
    assert quality(text) == "gopher_quality.stop_words"
    # Stop words are counted once each and case-sensitively, as datatrove does.
    assert quality(text + " The The the the") == "gopher_quality.stop_words"
    assert quality(text + " the with") is None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["the", "The", "and", "of", "lighthouse", "keeper", "thé",
                                 "other", "x" * 30, "andover", "of-the", "\n", "  ", "."]),
                max_size=300),
       st.integers(1, 4), st.integers(0, 2100), st.sampled_from(["Andover", "theory", "of"]))
def test_stop_words_seen_in_the_first_lines_decide_as_the_whole_text(tokens, needed, pad,
                                                                      at_cut):
    # The whole-text scan is skipped when the first ~2,000 characters already hold enough
    # distinct stop words; the outcome must be the whole scan's, wherever the cut falls
    # (`pad` moves a word that starts with a stop word across the cut).
    text = "y" * pad + " " + at_cut + " " + " ".join(tokens)
    rule = GopherQuality(min_stop_words=needed)
    prof = gq_languages.profile("en")
    pattern = gq_languages.stop_word_pattern(prof.stop_words)
    whole = len({w.lower() for w in pattern.findall(text)})
    counted = rule._count_stop_words_in(text, text.split(), prof.stop_words, prof)
    assert (counted < needed) == (whole < needed)
    assert counted == whole or counted >= needed


def test_stop_words_prefix_cut_never_splits_a_word():
    # Every position of the cut around 2,000 characters, with a word that begins with a
    # stop word ("Andover", "theory") or is one ("of") lying across it.
    prof = gq_languages.profile("en")
    for pad in range(1985, 2010):
        for at_cut in ("Andover", "theory", "of"):
            text = "y" * pad + " " + at_cut + " cats sleep\nquietly"
            expected = 1 if at_cut == "of" else 0
            for needed in (1, 2):
                counted = GopherQuality(min_stop_words=needed)._count_stop_words_in(
                    text, text.split(), prof.stop_words, prof)
                assert (counted < needed) == (expected < needed), (pad, at_cut)


def test_first_failing_check_wins():
    # Too short and full of hashes: the word count is checked first.
    assert quality("#a #b #c") == "gopher_quality.word_count_low"


def test_quality_parameters_from_spec():
    params = registry.step_parameters("gopher_quality")
    assert params["min_words"] is int and params["stop_words"] is tuple
    rule = registry.build_step("gopher_quality", {"stop_words": ["lighthouse", "keeper"],
                                                         "min_stop_words": 2})
    assert rule(BASE).keep
    assert not rule(BASE.replace("keeper", "warden")).keep


# --- repetition ------------------------------------------------------------------------------

def test_base_text_has_no_repetition():
    assert repetition(BASE) is None
    assert repetition("") == "gopher_repetition.empty"


def test_dup_para_frac():
    a, b = BASE, "A completely different paragraph about gardens and bees."
    assert repetition("\n\n".join([a, b, a, a])) == "gopher_repetition.dup_para_frac"


def test_dup_para_char_frac():
    short = [f"Short paragraph number {i} about something else." for i in range(3)]
    text = "\n\n".join([BASE] + short + [BASE])
    assert repetition(text) == "gopher_repetition.dup_para_char_frac"


def test_dup_line_frac():
    lines = [f"Line {i} says something new." for i in range(7)] + ["Same line."] * 5
    assert repetition("\n".join(lines)) == "gopher_repetition.dup_line_frac"


def test_dup_line_char_frac():
    lines = [f"Line {i} says something new." for i in range(10)] + [BASE, BASE]
    assert repetition("\n".join(lines)) == "gopher_repetition.dup_line_char_frac"


def test_table_borders_are_not_repeated_lines_but_count_in_datatrove_mode():
    """An ASCII table repeats its border line on every row; the rows carry the text."""
    border = "+------------------+------------------------------------------+"
    rows = [f"| {name:<16} | {what:<40} |" for name, what in (
        ("rsync", "copies trees between hosts"), ("tar", "packs files into one archive"),
        ("cpio", "an older archiver, used by initramfs"), ("pax", "the POSIX archive tool"),
        ("afio", "writes archives that survive damage"), ("dump", "backs up ext4 filesystems"))]
    table = "\n".join([border, *sum(([row, border] for row in rows), [])])
    text = "Table 9.1. List of tools for the job\n\n" + table + "\n\n" + BASE
    assert repetition(text) is None
    assert repetition(text, word_definition="datatrove") in (
        "gopher_repetition.dup_line_frac", "gopher_repetition.dup_line_char_frac")
    # Lines with words still count: the same row repeated is a repeated line.
    repeated = "\n".join([border, *[rows[0], border] * 6])
    assert repetition(repeated + "\n\n" + BASE) == "gopher_repetition.dup_line_frac"


def test_top_2_gram():
    text = " ".join(f"w{i} foo bar" for i in range(30))
    assert repetition(text) == "gopher_repetition.top_2_gram"


def test_top_3_gram():
    text = " ".join(f"filler{i:03d} ab cd {'z' * 20}" for i in range(30))
    assert repetition(text) == "gopher_repetition.top_3_gram"


def test_top_4_gram():
    text = " ".join(f"uniquefillerword{i:04d} ab cd ef {'z' * 20}" for i in range(30))
    assert repetition(text) == "gopher_repetition.top_4_gram"


REPEATED = ("Quiet rivers wander slowly through green valleys where farmers grow barley, "
            "apples, pears and plums while children chase butterflies across wide meadows "
            "under bright summer skies")
FILLER = ("Meanwhile mountain goats climb rocky ledges above frozen lakes, searching for "
          "lichen among boulders scattered by ancient glaciers")


def test_dup_5_gram():
    text = f"{REPEATED}. {FILLER}. {REPEATED}."
    assert repetition(text) == "gopher_repetition.dup_5_gram"


def test_dup_n_gram_parameters_accept_yaml_lists():
    text = f"{REPEATED}. {FILLER}. {REPEATED}."
    rule = registry.build_step("gopher_repetition", {"dup_n_grams": [[10, 0.1]]})
    assert rule(text).drop_reason == "gopher_repetition.dup_10_gram"
    assert repetition(text, dup_n_grams=((10, 0.5),)) is None


# A plain re-statement of datatrove 0.10's n-gram measures, to check the fast paths against.

def reference_top(words: list[str], n: int) -> int | None:
    grams = [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return None
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def reference_duplicated(words: list[str], n: int) -> int:
    seen, repeated, i = set(), 0, 0
    while i < len(words) - n + 1:
        gram = "".join(words[i:i + n])
        if gram in seen:
            repeated += len(gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return repeated


# Two-letter words: joining them is unambiguous, so datatrove's string keys and our tuple
# keys agree; a tiny vocabulary makes repeats of every length common. Short lists exercise
# near-equal n-gram counts, long ones the scan over many repeats.
_two_letter_words = st.sampled_from(["aa", "ab", "ba"])
word_lists = st.one_of(st.lists(_two_letter_words, min_size=1, max_size=30),
                       st.lists(_two_letter_words, min_size=40, max_size=120))


def pinned(value: int | None, size: int, above: bool) -> float:
    """A threshold the measure exceeds (above=True) or exactly meets (above=False)."""
    value = value or 0
    return (value - 0.5) / size if above else value / size


NO_LINE_CHECKS = dict(dup_line_frac=1, dup_para_frac=1, dup_line_char_frac=1,
                      dup_para_char_frac=1)


@settings(max_examples=100, deadline=None)
@given(word_lists)
def test_top_n_gram_matches_reference(words):
    text = " ".join(words)
    size = len(text)
    values = {m: reference_top(words, m) for m in (2, 3, 4)}
    for n in (2, 3, 4):
        for above in (False, True):
            # Smaller n at exactly their value (computed, not triggered), larger n off.
            top = tuple((m, pinned(values[m], size, m == n and above) if m <= n else 10.0)
                        for m in (2, 3, 4))
            value = values[n]
            expected = None if value is None or value / size <= top[n - 2][1] else \
                f"gopher_repetition.top_{n}_gram"
            rule = GopherRepetition(**NO_LINE_CHECKS, top_n_grams=top, dup_n_grams=())
            assert rule(text).drop_reason == expected, (n, above)


@settings(max_examples=150, deadline=None)
@given(word_lists)
def test_duplicated_n_grams_match_reference(words):
    text = " ".join(words)
    size = len(text)
    for n in range(5, 11):
        value = reference_duplicated(words, n)
        for above in (False, True):
            dup = tuple((m, pinned(value, size, above) if m == n else 10.0) for m in range(5, 11))
            expected = f"gopher_repetition.dup_{n}_gram" if value / size > dup[n - 5][1] else None
            rule = GopherRepetition(**NO_LINE_CHECKS, top_n_grams=(), dup_n_grams=dup)
            assert rule(text).drop_reason == expected, (n, above)


# The one-scan regexes of the repetition rule's default mode give what the plain statements
# give: the words are the whitespace-separated words that are not all punctuation, the lines
# the newline-separated runs that hold a letter or a digit.
_TEXT_ALPHABET = "ab Z9_-|+=.,!\n\n\r\t\x0b\x0c\x1c\xa0\u3000é日٣½"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_TEXT_ALPHABET, max_size=80))
def test_repetition_words_and_lines_equal_their_plain_statements(text):
    punctuation_word = re.compile(r"(?<!\S)[^\w\s]+(?!\S)")
    assert GopherRepetition()._words(text, "en") == punctuation_word.sub(" ", text).split()
    assert gr._LINE_WITH_LETTER_OR_DIGIT.findall(text) == [
        line for line in re.split(r"\n+", text) if re.search(r"[^\W_]", line)]
