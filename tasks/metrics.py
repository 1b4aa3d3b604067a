"""seqio metric functions for the metrics the product names: accuracy, F1, exact match, BLEU,
chrF and ROUGE, as thin wrappers over well-kept libraries (scikit-learn, sacrebleu, rouge-score),
never re-implemented here.

Each is a seqio prediction metric function `fn(targets, predictions) -> {name: value}` (the
shape of t5.evaluation.metrics, which is not installable beside this project), values in percent
as t5 reports them. Use them in a Task's `metric_fns`; seqio's Evaluator (launch.eval,
evaluation during training) calls them on the postprocessed targets and predictions. The score
metric for multiple choice is tasks/rank_classification.py's.
"""

from __future__ import annotations

from collections.abc import Sequence

import sacrebleu
from rouge_score import rouge_scorer, scoring
from sklearn import metrics as sk_metrics


def accuracy(targets: Sequence, predictions: Sequence) -> dict[str, float]:
    """Percentage of predictions equal to their target (scikit-learn's accuracy_score)."""
    return {"accuracy": 100 * sk_metrics.accuracy_score(list(targets), list(predictions))}


def exact_match(targets: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """Percentage of predicted strings identical to their target string."""
    return {"exact_match": 100 * sk_metrics.accuracy_score(list(targets), list(predictions))}


def f1_macro(targets: Sequence, predictions: Sequence) -> dict[str, float]:
    """Macro-averaged F1 over the target labels (scikit-learn's f1_score; a predicted label that
    is no target label counts against recall)."""
    labels = sorted(set(targets), key=str)
    return {"f1_macro": 100 * sk_metrics.f1_score(list(targets), list(predictions),
                                                  labels=labels, average="macro",
                                                  zero_division=0)}


def bleu(targets: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU with one reference per prediction (sacrebleu's defaults: 13a tokenizer,
    exponential smoothing), as t5's `bleu`."""
    return {"bleu": sacrebleu.corpus_bleu(list(predictions), [list(targets)]).score}


def chrf(targets: Sequence[str], predictions: Sequence[str]) -> dict[str, float]:
    """Corpus chrF (sacrebleu's defaults: character 6-grams, beta 2)."""
    return {"chrf": sacrebleu.corpus_chrf(list(predictions), [list(targets)]).score}


def rouge(targets: Sequence[str], predictions: Sequence[str],
          rouge_types: Sequence[str] = ("rouge1", "rouge2", "rougeL")) -> dict[str, float]:
    """ROUGE F-measures (rouge-score, Porter stemming), aggregated with its bootstrap aggregator
    (the median, 'mid', estimate) as t5's `rouge`."""
    scorer = rouge_scorer.RougeScorer(list(rouge_types), use_stemmer=True)
    aggregator = scoring.BootstrapAggregator()
    for target, prediction in zip(targets, predictions):
        aggregator.add_scores(scorer.score(target, prediction))
    result = aggregator.aggregate()
    return {name: 100 * result[name].mid.fmeasure for name in rouge_types}
