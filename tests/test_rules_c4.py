"""C4 line and page rules: which lines go, why they are counted, and when a page is dropped."""

from __future__ import annotations

import pytest

from pipeline import registry
from pipeline.rules.c4 import C4Rules, count_sentences

GOOD = [
    "The old lighthouse stood at the edge of the cliff.",
    "Every evening the keeper climbed the narrow stairs to light the lamp.",
    "Visitors often asked him whether he felt lonely at night.",
]


def run(lines: list[str], **params):
    return C4Rules(**params)("\n".join(lines))


def test_clean_page_is_kept_unchanged():
    result = run(GOOD)
    assert result.keep
    assert result.text == "\n".join(GOOD)
    assert result.lines_removed == {}


def test_line_removal_reasons_are_counted():
    page = [
        "Home | About | Contact",                           # no terminal punctuation
        GOOD[0],
        "Click here.",                                      # two words
        "Please enable JavaScript to view the comments.",   # javascript
        GOOD[1],
        "This site uses cookies to improve your experience.",  # policy
        "See our Privacy Policy and Terms of Use for details.",  # policy
        "A " + "x" * 1001 + " word is far too long.",       # word over 1000 characters
        "And then the story simply ended...",               # ellipsis is not an ending
        "   ",                                              # blank
        GOOD[2],
    ]
    result = run(page)
    assert result.keep
    assert result.text == "\n".join(GOOD)
    assert result.lines_removed == {
        "c4.no_terminal_punct": 3,
        "c4.too_few_words": 1,
        "c4.javascript": 1,
        "c4.policy": 2,
        "c4.too_long_word": 1,
    }


def test_lines_are_stripped_and_quotes_end_sentences():
    page = ["   " + GOOD[0] + "   ", 'He said "the lamp is lit."', "It was 'fine.'", GOOD[2]]
    result = run(page)
    assert result.text.splitlines() == [GOOD[0], 'He said "the lamp is lit."', "It was 'fine.'",
                                        GOOD[2]]


def test_citations_are_removed_before_the_punctuation_check():
    page = [GOOD[0] + "[1]", GOOD[1] + "[citation needed]", GOOD[2] + "[edit]"]
    result = run(page)
    assert result.text == "\n".join(GOOD)
    kept_without_removal = run(page, remove_citations=False)
    assert kept_without_removal.drop_reason == "c4.too_few_sentences"
    assert kept_without_removal.lines_removed == {"c4.no_terminal_punct": 3}


def test_lorem_ipsum_drops_the_page():
    result = run(GOOD + ["Lorem ipsum dolor sit amet, consectetur adipiscing elit."])
    assert result.drop_reason == "c4.lorem_ipsum"
    assert run(GOOD + ["Lorem ipsum dolor sit amet."], filter_lorem_ipsum=False).keep


def test_curly_bracket_drops_the_page():
    assert run(GOOD + ["The function returns {value} when it is done."]).drop_reason == \
        "c4.curly_bracket"
    assert run(GOOD + ["The map {a: 1} is printed."], filter_curly_bracket=False).keep


def test_page_rules_only_look_at_lines_that_survive_line_rules():
    # As in TFDS and datatrove: a "{" or "lorem ipsum" on a line that is removed anyway
    # (no final punctuation, too short) does not drop the page.
    result = run(GOOD + ["int main() {", "lorem ipsum."])
    assert result.keep
    assert result.lines_removed == {"c4.no_terminal_punct": 1, "c4.too_few_words": 1}


def test_too_few_sentences():
    assert run(GOOD[:2]).drop_reason == "c4.too_few_sentences"
    # Three sentences on one line are enough: sentences are counted, not lines.
    assert run(["It rained. The river rose! Did the bridge hold?"]).keep
    assert run(GOOD, min_sentences=5).drop_reason == "c4.too_few_sentences"
    assert run(GOOD[:1], min_sentences=0).keep
    assert run(["no sentence here"], min_sentences=0).drop_reason == "c4.empty"


@pytest.mark.parametrize("flag, line, reason", [
    ("filter_no_terminal_punct", "A line without an ending", "c4.no_terminal_punct"),
    ("filter_javascript", "Turn on JavaScript in your browser now.", "c4.javascript"),
    ("filter_policy", "Read the cookie policy before you continue.", "c4.policy"),
])
def test_line_filters_can_be_switched_off(flag, line, reason):
    assert run(GOOD + [line]).lines_removed == {reason: 1}
    switched_off = run(GOOD + [line], **{flag: False})
    assert switched_off.lines_removed == {}
    assert line in switched_off.text


def test_word_limits_are_parameters():
    assert run(GOOD + ["Two words."], min_words_per_line=2).lines_removed == {}
    assert run(GOOD + ["Short but long enough words here."], max_word_length=4).lines_removed \
        == {"c4.too_long_word": 4}


@pytest.mark.parametrize("line, sentences", [
    ("Hello world. This is it! Right?", 3),
    ("The U.S. economy grew by 2.5 percent.", 1),
    ("Wait... what happened next?", 1),
    ('He left. "Why?" she asked.', 3),
    ("One sentence without a full stop", 1),
    ("", 0),
])
def test_count_sentences_like_spacy(line, sentences):
    assert count_sentences(line) == sentences


def test_parameters_from_spec():
    params = registry.step_parameters("c4")
    assert params["min_sentences"] is int and params["filter_policy"] is bool
    assert registry.build_step("c4", {"min_sentences": 5})("\n".join(GOOD)).drop_reason \
        == "c4.too_few_sentences"
