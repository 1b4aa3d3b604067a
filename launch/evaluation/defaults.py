"""t5x's eval/infer defaults made to work on mixtures without a 'test' split, and feature lengths
derived from the data.

t5x's eval.gin and infer.gin read split 'test'. Mixtures made by this project's data engine have
'train' and 'validation' only; t5x would stop with "doesn't have provided split". Here, when no
task has the requested split and the request is t5x's default 'test', 'validation' is used instead
and the switch is logged and recorded in the outputs; any other missing split is an error that
names the splits the tasks do have.

`TASK_FEATURE_LENGTHS = None` means, as in t5x, "the longest example of each feature in the
split" (seqio.Evaluator measures it the same way), up to a cap (`DERIVED_LENGTH_CAP`, PaLM's
training length): this project's tasks keep whole documents, and a validation split holding a
book would otherwise ask for one attention matrix over the whole book (hundreds of GB). Past the
cap the tasks cut documents into pieces of the cap's length, so every token is still evaluated.
"""

from __future__ import annotations

import logging

import numpy as np
import seqio

log = logging.getLogger("launch")

T5X_DEFAULT_SPLIT = "test"
FALLBACK_SPLIT = "validation"
DERIVED_LENGTH_CAP = 2048


class SplitError(ValueError):
    """No task has the requested split; the message lists the splits available."""


def tasks_of(name: str) -> list[seqio.Task]:
    item = seqio.get_mixture_or_task(name)
    tasks = item.tasks if isinstance(item, seqio.Mixture) else [item]
    return sorted(tasks, key=lambda t: t.name)


def resolve_split(name: str, split: str) -> tuple[str, str | None]:
    """(split to use, a note when it differs from `split`)."""
    tasks = tasks_of(name)
    if any(split in t.splits for t in tasks):
        return split, None
    available = sorted({s for t in tasks for s in t.splits})
    if split == T5X_DEFAULT_SPLIT and any(FALLBACK_SPLIT in t.splits for t in tasks):
        note = (f"no task of {name!r} has a {split!r} split (t5x's default); using "
                f"{FALLBACK_SPLIT!r} (available: {available})")
        log.warning(note)
        return FALLBACK_SPLIT, note
    raise SplitError(f"no task of {name!r} has a {split!r} split; available splits: {available}. "
                     f"Set --gin.MIXTURE_OR_TASK_SPLIT='<split>' or "
                     f"--gin.utils.DatasetConfig.split='<split>'")


def derive_feature_lengths(name: str, split: str, use_cached: bool = False,
                           max_examples: int | None = None,
                           cap: int = DERIVED_LENGTH_CAP) -> dict[str, int]:
    """The longest example of each feature over the tasks that have `split` (t5x's
    TASK_FEATURE_LENGTHS = None), at most `cap`. Features of length 0 everywhere still get
    length 1."""
    lengths: dict[str, int] = {}
    for task in tasks_of(name):
        if split not in task.splits:
            continue
        # No in-memory cache: take(max_examples) would leave it half-read (a tf.data warning).
        ds = task.get_dataset(None, split=split, shuffle=False, num_epochs=1,
                              use_cached=use_cached, try_in_mem_cache=False)
        if max_examples:
            ds = ds.take(max_examples)
        features = [k for k in task.output_features if k in ds.element_spec]
        ds = ds.map(lambda ex: {k: ex[k] for k in features})
        for batch in ds.padded_batch(256).as_numpy_iterator():
            for key, values in batch.items():
                used = int(np.max(np.sum(values != 0, axis=1))) if values.size else 0
                lengths[key] = max(lengths.get(key, 1), used)
    if not lengths:
        raise SplitError(f"no task of {name!r} has a {split!r} split to measure feature lengths")
    longer = {k: v for k, v in lengths.items() if v > cap}
    if longer:
        log.warning("TASK_FEATURE_LENGTHS = None: the longest %r examples %s exceed %d tokens; "
                    "using %d (longer documents are evaluated in pieces of that length; set "
                    "TASK_FEATURE_LENGTHS to choose)", split, longer, cap, cap)
        lengths = {k: min(v, cap) for k, v in lengths.items()}
    log.info("TASK_FEATURE_LENGTHS = None: derived %s from the %r split", lengths, split)
    return lengths
