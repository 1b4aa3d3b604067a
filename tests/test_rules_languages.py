"""The rules on real-looking text in several languages and layouts: Gopher's whitespace words
by default (datatrove's tokens as an option), per-language stop words and skipped checks,
segmentation for Japanese and Chinese, and C4 on hard-wrapped paragraphs."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.rules import languages
from pipeline.rules.c4 import C4Rules
from pipeline.rules.gopher_quality import GopherQuality
from pipeline.rules.gopher_repetition import GopherRepetition
from pipeline.rules.paragraphs import paragraphs

# A man page's prose, as `man` renders it: options, punctuation of its own, hard-wrapped.
MAN_PAGE = """\
LS(1)                            User Commands                           LS(1)

NAME
       ls - list directory contents

SYNOPSIS
       ls [OPTION]... [FILE]...

DESCRIPTION
       List  information  about  the FILEs (the current directory by default).
       Sort entries alphabetically if none of -cftuvSUX nor --sort is specified.

       Mandatory arguments to long options are mandatory for short options too.

       -a, --all
              do not ignore entries starting with .

       -A, --almost-all
              do not list implied . and ..

       --block-size=SIZE
              with -l, scale sizes by SIZE when printing them; e.g., '--block-size=M';
              see SIZE format below

       The  SIZE argument is an integer and optional unit (example: 10K is 10*1024).
       Units are K,M,G,T,P,E,Z,Y (powers of 1024) or KB,MB,... (powers of 1000).
       Exit status is 0 if OK, 1 if minor problems (e.g., cannot access a
       subdirectory), and 2 if serious trouble (e.g., cannot access a command-line
       argument); the file will be listed with the rest of the directory.
"""

GERMAN = (
    "Die Paketverwaltung von Debian installiert Programme aus den offiziellen Archiven und "
    "löst dabei die Abhängigkeiten zwischen den Paketen automatisch auf. Wer ein neues "
    "Programm benötigt, sucht es zuerst mit dem Befehl apt search und installiert es dann "
    "mit apt install. Die Konfigurationsdateien liegen im Verzeichnis /etc und werden bei "
    "einer Aktualisierung nicht überschrieben, wenn der Administrator sie verändert hat. "
    "So bleibt das System auch nach vielen Jahren sauber und nachvollziehbar.")

FRENCH = (
    "Le gestionnaire de paquets de Debian installe les programmes depuis les archives "
    "officielles et résout automatiquement les dépendances entre les paquets. Pour trouver "
    "un nouveau programme, on le cherche d'abord avec la commande apt search, puis on "
    "l'installe avec apt install. Les fichiers de configuration se trouvent dans le "
    "répertoire /etc et ne sont pas écrasés lors d'une mise à jour si l'administrateur les "
    "a modifiés. Le système reste ainsi propre et compréhensible pendant des années.")

JAPANESE = (
    "Debian のパッケージ管理システムは、公式アーカイブからプログラムをインストールし、"
    "パッケージ間の依存関係を自動的に解決します。新しいプログラムが必要な場合は、まず "
    "apt search コマンドで検索し、次に apt install でインストールします。設定ファイルは "
    "/etc ディレクトリにあり、管理者が変更した場合は更新時に上書きされません。"
    "このため、システムは何年たっても整理された状態を保つことができます。"
    "ドキュメントは各パッケージのディレクトリにあり、man コマンドで読むことができます。")

CHINESE = (
    "Debian 的软件包管理系统从官方仓库安装程序，并自动解决软件包之间的依赖关系。需要新程序时，"
    "先用 apt search 命令搜索，然后用 apt install 安装。配置文件位于 /etc 目录中，如果管理员"
    "修改过，更新时不会被覆盖。这样系统在多年之后也能保持整洁，这是很多用户选择它的原因。")

# Hard-wrapped at 72 columns, as plain-text manuals and text/plain pages are.
WRAPPED = """\
The package manager installs programs from the official archives and
resolves the dependencies between packages automatically. When you need
a new program, search for it with apt search and then install it with
apt install; the configuration files live in /etc and are never
overwritten by an upgrade when the administrator has changed them.

Each package ships its documentation in its own directory, and the
manual pages can be read with the man command, which formats them for
the width of the terminal and lets you search them as you read.

  - Lists keep their items apart, even when an item is long enough to
    wrap onto a second line of its own.
  - A second item of the list.
"""


def quality(text, lang=None, **params):
    return GopherQuality(**params)(text, lang)


# --- word definitions ------------------------------------------------------------------------

def test_gopher_paper_words_keep_technical_prose_that_datatrove_tokens_drop():
    assert quality(MAN_PAGE).keep
    assert quality(MAN_PAGE, word_definition="datatrove").drop_reason == \
        "gopher_quality.alpha_word_ratio"


def test_whitespace_words_count_attached_punctuation_as_part_of_the_word():
    # 49 words and loose punctuation: in the paper's definition "--" and "..." are words.
    text = " ".join(GERMAN.split()[:45]) + " , . ; -- ..."
    assert languages.words_of(text, languages.profile("de"))[-5:] == [",", ".", ";", "--",
                                                                      "..."]
    assert quality(text, "de", max_symbol_word_ratio=1.0,
                   word_definition="datatrove").drop_reason == "gopher_quality.word_count_low"


def test_an_unknown_word_definition_is_an_error():
    import pytest
    with pytest.raises(ValueError, match="word_definition"):
        GopherQuality(word_definition="spacy")


# --- languages -------------------------------------------------------------------------------

def test_german_and_french_prose_is_kept_with_their_own_stop_words():
    for text, lang in ((GERMAN, "de"), (FRENCH, "fr")):
        assert quality(text, lang).keep, lang
        # judged as English, the same prose has none of Gopher's English stop words
        assert quality(text).drop_reason == "gopher_quality.stop_words"


def test_japanese_is_segmented_and_mean_word_length_is_skipped_visibly():
    words = languages.words_of(JAPANESE, languages.profile("ja"))
    assert words[:6] == ["Debian", "の", "パッケージ", "管理", "システム", "は"]
    assert "、" not in words and "。" not in words
    result = quality(JAPANESE, "ja")
    assert result.keep
    assert result.skipped == ("gopher_quality.avg_word_length",)
    # without segmentation the whole text is a handful of "words"
    assert quality(JAPANESE, "en").drop_reason == "gopher_quality.word_count_low"


def test_chinese_han_runs_are_cut_into_characters():
    words = languages.words_of("配置文件位于 /etc 目录中。", languages.profile("zh"))
    assert words == ["配", "置", "文", "件", "位", "于", "/etc", "目", "录", "中"]
    assert quality(CHINESE, "zh").keep


def test_a_language_without_a_stop_word_list_skips_that_check():
    swahili = ("Mfumo wa usimamizi wa vifurushi husakinisha programu kutoka kwenye hifadhi "
               "rasmi na kutatua utegemezi kati ya vifurushi kiotomatiki. ") * 5
    result = quality(swahili, "sw")
    assert result.keep
    assert result.skipped == ("gopher_quality.stop_words",)
    assert languages.profile("sw").stop_words == ()
    assert languages.profile("de-AT").code == "de"
    assert languages.profile("unknown").code == "en" and languages.profile(None).code == "en"


def test_explicit_stop_words_apply_to_every_language():
    assert not quality(GERMAN, "de", stop_words=("lighthouse", "keeper")).keep


def test_repetition_sees_japanese_words_not_whole_lines():
    repeated = "設定ファイルを確認してください。" * 30
    rule = GopherRepetition()
    assert rule(repeated, "ja").drop_reason == "gopher_repetition.top_2_gram"
    assert rule(JAPANESE, "ja").keep


# --- C4 on paragraphs ------------------------------------------------------------------------

def test_hard_wrapped_paragraphs_are_judged_whole_and_kept_with_their_lines():
    page = WRAPPED + "\nHome | Packages | Contact\nSearch the archive\n"
    result = C4Rules()(page)
    assert result.keep
    lines = [line.strip() for line in WRAPPED.splitlines() if line.strip()]
    assert result.text.splitlines() == lines
    # blank lines count as removed, as in datatrove (3 here)
    assert result.lines_removed == {"c4.no_terminal_punct": 5}
    assert result.bytes_removed == {"c4.no_terminal_punct": 3 + len(
        "Home | Packages | Contact\nSearch the archive\n")}


def test_judging_display_lines_deletes_most_of_a_wrapped_text():
    result = C4Rules(unwrap=False)(WRAPPED)
    assert result.lines_removed["c4.no_terminal_punct"] >= 8


def test_paragraphs_respect_indentation_lists_and_sentence_ends():
    groups = paragraphs(WRAPPED.splitlines())
    sizes = [len(g) for g in groups if g[0].strip()]
    assert sizes == [5, 3, 2, 1]
    man = paragraphs(MAN_PAGE.splitlines())
    # an option and its indented description stay apart
    assert ["       -a, --all"] in man


def test_one_paragraph_per_line_is_left_alone():
    long_lines = [("word " * 40).strip() + "." for _ in range(5)]
    assert paragraphs(long_lines) == [[line] for line in long_lines]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab .-\t", max_size=90), max_size=30))
def test_paragraphs_partition_the_lines_in_order(lines):
    assert [line for group in paragraphs(lines) for line in group] == lines


def test_c4_accepts_the_ideographic_full_stop():
    lines = [s + "。" for s in JAPANESE.split("。") if s.strip()]
    assert C4Rules()("\n".join(lines), "ja").keep
    assert C4Rules()("\n".join(lines)).drop_reason == "c4.too_few_sentences"
