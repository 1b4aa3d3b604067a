"""Language ID scores the prose of a document: technical text in a declared language is kept
(commands, option lists and C declarations no longer dilute fastText's score below FineWeb's
0.65), while a document in an undeclared language, or one with no prose at all, still drops.
The samples are written here, in the layouts of the real sources (man pages as `man` renders
them, a manual with code, a Japanese page)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import langid
from pipeline.langid import LanguageFilter

# An English C library man page: the synopsis and the option list fill its first lines.
MAN_EN = """\
STRCPY(3)                  Linux Programmer's Manual                 STRCPY(3)

NAME
       stpcpy, strcpy, strcat - copy or catenate a string

LIBRARY
       Standard C library (libc, -lc)

SYNOPSIS
       #include <string.h>

       char *stpcpy(char *restrict dst, const char *restrict src);
       char *strcpy(char *restrict dst, const char *restrict src);
       char *strcat(char *restrict dst, const char *restrict src);

   Feature Test Macro Requirements for glibc (see feature_test_macros(7)):

       stpcpy():
           Since glibc 2.10:
               _POSIX_C_SOURCE >= 200809L
           Before glibc 2.10:
               _GNU_SOURCE

DESCRIPTION
       stpcpy()
       strcpy()
              These functions copy the string pointed to by src, into a string
              at the buffer pointed to by dst.  The programmer is responsible
              for allocating a destination buffer large enough, that is,
              strlen(src) + 1.  For the difference between the two functions,
              see RETURN VALUE.

       strcat()
              This function catenates the string pointed to by src, after the
              string pointed to by dst (overwriting its terminating null byte).
              The programmer is responsible for allocating a destination buffer
              large enough, that is, strlen(dst) + strlen(src) + 1.

EXAMPLES
       #include <err.h>
       #include <stdio.h>
       #include <stdlib.h>
       #include <string.h>

       int
       main(void)
       {
           char    *p;
           char    *buf1;
           size_t  len, maxsize;

           maxsize = strlen("Hello ") + strlen("world") + strlen("!") + 1;
           buf1 = malloc(sizeof(*buf1) * maxsize);
           if (buf1 == NULL)
               err(EXIT_FAILURE, "malloc()");
           p = buf1;
           p = mempcpy(p, "Hello ", 6);
           p = mempcpy(p, "world", 5);
           p = mempcpy(p, "!", 1);
           p = mempcpy(p, "", 1);
           puts(buf1);
           free(buf1);
           exit(EXIT_SUCCESS);
       }
"""

# A German man page: the same layout, translated prose, untranslated options and commands.
MAN_DE = """\
MKDIR(1)                      Dienstprogramme für Benutzer                     MKDIR(1)

BEZEICHNUNG
       mkdir - Verzeichnisse erstellen

ÜBERSICHT
       mkdir [OPTION]... VERZEICHNIS...

BESCHREIBUNG
       Erstellt die VERZEICHNIS(se), falls sie noch nicht existieren.

       -m, --mode=MODUS
              setzt die Zugriffsrechte (wie bei chmod), nicht a=rwx - umask

       -p, --parents
              gibt keinen Fehler aus, falls das Verzeichnis existiert, und erstellt
              bei Bedarf übergeordnete Verzeichnisse

       -v, --verbose
              gibt für jedes erstellte Verzeichnis eine Meldung aus

       -Z     setzt den SELinux-Sicherheitskontext jedes erstellten Verzeichnisses
              auf den Standardtyp

       --help zeigt die Hilfe an und beendet das Programm

BEISPIELE
       $ mkdir -p /srv/www/{htdocs,logs}
       $ mkdir -m 0750 ~/privat && ls -ld ~/privat
       drwxr-x--- 2 anna anna 4096 Jan  3 10:12 /home/anna/privat

AUTOR
       Geschrieben von David MacKenzie. Die deutsche Übersetzung dieser Handbuchseite
       wurde von einer Gruppe Freiwilliger erstellt; Fehler melden Sie bitte an die
       Mailingliste der Übersetzer.
"""

# A Japanese page from a manual: prose with commands and a configuration example.
PAGE_JA = """\
第 6 章 メンテナンスと更新

6.1. sources.list ファイルの内容

 Debian のパッケージ管理システムは、どこからパッケージを取得するかを sources.list ファイルで
 決めます。各行にはリポジトリの種類、URL、ディストリビューション名、コンポーネントを書きます。
 変更した後は、必ずパッケージの一覧を更新してください。

 deb http://deb.debian.org/debian bookworm main contrib
 deb-src http://deb.debian.org/debian bookworm main
 # apt update && apt full-upgrade -y

 セキュリティ更新は別のリポジトリから配布されるので、この行も忘れずに追加しましょう。
 古いミラーを使い続けると、重要な修正が届かないことがあります。
"""

# A Spanish page (prose, no code) and a C listing: neither belongs to an English source.
PAGE_ES = """\
La biblioteca estándar de C ofrece funciones para copiar y concatenar cadenas de caracteres.
El programador es responsable de reservar un búfer de destino suficientemente grande, porque
estas funciones no comprueban el tamaño y pueden escribir más allá del final del búfer.
Para evitarlo, es mejor calcular primero la longitud de las dos cadenas y después copiar.
"""

C_LISTING = """\
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        long n = strtol(argv[i], NULL, 10);
        printf("%ld\\n", n * n);
    }
    return EXIT_SUCCESS;
}
"""


def test_prose_of_skips_commands_declarations_and_code():
    prose = langid.prose_of(MAN_EN)
    assert "These functions copy the string pointed to by src" in prose
    assert "char *strcpy" not in prose and "#include" not in prose
    assert "mempcpy" not in prose and "maxsize" not in prose
    assert langid.prose_of(C_LISTING) == ""


def test_technical_english_is_kept_where_the_whole_text_scored_low():
    # The property the change is for: fastText on the whole text is unsure of this page...
    _, whole = langid.identify(MAN_EN, score_on="text")
    assert whole < 0.65
    # ...and sure of its prose.
    step = LanguageFilter(languages=("en",))
    lang, score, result = step.classify(MAN_EN)
    assert (lang, result.drop_reason) == ("en", None) and score >= 0.65


def test_german_man_page_and_japanese_page_are_kept_for_a_declared_source():
    step = LanguageFilter(languages=("de", "fr", "ja"))
    for text, expected in ((MAN_DE, "de"), (PAGE_JA, "ja")):
        lang, score, result = step.classify(text)
        assert (lang, result.drop_reason) == (expected, None), (expected, lang, score)


def test_a_document_in_an_undeclared_language_still_drops():
    lang, _, result = LanguageFilter(languages=("en",)).classify(PAGE_ES)
    assert (lang, result.drop_reason) == ("es", "langid.language_not_kept")
    lang, _, result = LanguageFilter(languages=("de", "fr", "ja")).classify(MAN_EN)
    assert (lang, result.drop_reason) == ("en", "langid.language_not_kept")


def test_a_document_without_prose_is_scored_whole_and_not_waved_through():
    # Too little prose: the whole text is scored, as FineWeb does; code is no language.
    lang, score, result = LanguageFilter(languages=("en",)).classify(C_LISTING)
    assert result.drop_reason is not None, (lang, score)
    assert langid.identify(C_LISTING) == langid.identify(C_LISTING, score_on="text")


# A short English manual page: its one sentence of prose is all fastText sees, and it is unsure.
SHORT_MAN_EN = """\
SWAPWORD(3)              Library Functions Manual              SWAPWORD(3)

NAME
       swapword, swaphalf - reorder the bytes of integers

SYNOPSIS
       #include <netswap.h>
       uint32_t swapword(uint32_t value);

DESCRIPTION
       The swapword() function converts the unsigned integer from host byte order to network byte order.
"""  # noqa: E501 (a man page's own line)


def test_a_declared_language_ranked_first_needs_only_the_declared_floor():
    lang, score = langid.identify(SHORT_MAN_EN)
    assert lang == "en" and 0.3 <= score < 0.65, score
    # A source that declares English keeps it; one that declares nothing applies FineWeb's 0.65.
    assert LanguageFilter(languages=("en",)).classify(SHORT_MAN_EN)[2].drop_reason is None
    assert LanguageFilter().classify(SHORT_MAN_EN)[2].drop_reason == "langid.low_score"
    assert (LanguageFilter(languages=("en",), min_score_declared=0.65)
            .classify(SHORT_MAN_EN)[2].drop_reason == "langid.low_score")


def test_thresholds_must_be_probabilities():
    with pytest.raises(ValueError, match="min_score_declared must be a probability"):
        LanguageFilter(min_score_declared=30)
    with pytest.raises(ValueError, match="min_score must be a probability"):
        LanguageFilter(min_score=-0.1)


def test_score_on_text_is_the_first_characters_of_the_whole_text():
    text = PAGE_ES + "\n" + MAN_EN
    assert langid.identify(text, max_chars=300, score_on="text")[0] == "es"


def test_score_on_is_checked():
    with pytest.raises(ValueError, match="score_on must be one of prose, text"):
        LanguageFilter(score_on="lines")


def test_code_like_words_are_left_out_of_prose_lines_but_cjk_text_is_not():
    prose = langid.prose_of("The memset() function fills the first n bytes of the memory "
                            "area, see printf(3) and --all for the ISO 8859-1 table.\n" * 3)
    assert "memset()" not in prose and "printf(3)" not in prose and "8859-1" not in prose
    assert "The function fills the first n bytes" in prose
    ja = "変更した後は、必ずパッケージの一覧（apt update）を更新してください。"
    assert langid.prose_of(ja) == ja


# ---------------------------------------------------------------------------------------------
# The fast prose extraction and prediction give exactly what the plain statements of the rules
# give (pipeline/langid.py counts characters with bytes.translate and filters code words on the
# word list; these references are the regex versions it replaced).

_REF_LETTER = re.compile(r"[^\W\d_]")
_REF_CODE_CHAR = re.compile(r"[{}\[\]()<>;=$|\\#*_/@`~^&%+]")
_REF_CODE_TOKEN = re.compile(r"(?<!\S)[!-~]*[\d{}\[\]()<>;=$|\\#*_/@`~^&%+][!-~]*(?!\S)\s*")


def _reference_prose_of(text: str, max_chars: int = 2000) -> str:
    picked: list[str] = []
    total = 0
    for line in text[:20 * max_chars].splitlines():
        body = "".join(line.split())
        if len(body) < langid.MIN_LINE_LETTERS:
            continue
        letters = len(_REF_LETTER.findall(body))
        if letters < langid.MIN_LINE_LETTERS or letters < langid.MIN_LETTER_SHARE * len(body):
            continue
        if len(_REF_CODE_CHAR.findall(body)) > langid.MAX_CODE_SHARE * len(body):
            continue
        picked.append(" ".join(line.split()))
        total += len(picked[-1]) + 1
        if total >= max_chars:
            break
    return _REF_CODE_TOKEN.sub("", " ".join(picked))[:max_chars]


# Letters of several scripts, ASCII and other decimal digits (fullwidth, Arabic-Indic), code
# characters, control characters, every kind of whitespace and line break str.split() and
# str.splitlines() know, marks, numerals that are not digits (½, Ⅻ), an underscore, a lone
# surrogate (JSON can carry one).
_ALPHABET = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
             "{}[]()<>;=$|\\#*_/@`~^&%+.,:!?'\"-"
             "éüßçÉÜ日本語のテキスト中文ЖжΩω"
             "３٣½Ⅻ²\u0301\x00\x01\x7f"
             " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2028\u2029\u3000\u2003\ud800")


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(st.text(alphabet=_ALPHABET, max_size=60), max_size=40),
       words=st.lists(st.sampled_from(["the", "memory", "Größe", "printf(3)", "x=1", "８bit",
                                       "a３", "ab３٣", "$HOME", "日本語", "3.5", "ok\x01",
                                       "v2\x7f", "«»", "__init__", "é1"]), max_size=30),
       max_chars=st.sampled_from([40, 120, 2000]))
def test_prose_of_equals_the_reference_extraction(lines, words, max_chars):
    # prose-like lines (enough letters) mixed with arbitrary ones, so every branch is reached
    text = "\n".join(lines + [" ".join(["Sentence", "words", "here", *words])] * 3
                     + [" ".join(words)])
    assert langid.prose_of(text, max_chars) == _reference_prose_of(text, max_chars)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(list(_ALPHABET[:-1]) + [
    "HELLO WORLD ", "Das ist ein Satz. ", "C'EST UNE PHRASE ", "これは日本語です。"]),
    min_size=1, max_size=40).map("".join))
def test_prediction_equals_fast_langdetects_detect(snippet):
    snippet = " ".join(snippet.split())
    if not snippet:
        return
    expected = langid._detector().detect(snippet, model="lite", k=1)
    got = langid._predict(snippet)
    assert got == ((expected[0]["lang"], expected[0]["score"]) if expected else None)
