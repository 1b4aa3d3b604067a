"""Document-length histograms of a Task's split: counted once, recorded, reused.

The token-true mixing rates (tasks/mixture_rates.py) and the materialised stream's quotas need,
per Task, how many tokens its documents hold (EOS included) and how they split at a sequence
length. seqio's cache stats give only totals, so the lengths are counted once from the Task's
own dataset (the seqio cache when the Task is cached there, else tokenized on the fly) and
recorded as JSON next to the source's prep outputs:

    <data_dir>/<source>/token_lengths.<split>.json
      {"vocabulary_sha256", "source_manifest_sha256", "documents", "tokens",
       "lengths": [...], "counts": [...]}      # distinct lengths and how many documents have each

A record is reused only while the vocabulary and the source's prep manifest are unchanged.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os

import numpy as np

log = logging.getLogger("tasks.token_stats")
RECORD_NAME = "token_lengths.{split}.json"


@dataclasses.dataclass(frozen=True)
class LengthHistogram:
    lengths: np.ndarray  # distinct document lengths (tokens, EOS included)
    counts: np.ndarray   # documents of each length

    @property
    def documents(self) -> int:
        return int(self.counts.sum())

    @property
    def tokens(self) -> int:
        return int((self.lengths.astype(np.int64) * self.counts).sum())

    @classmethod
    def of(cls, document_lengths: np.ndarray) -> "LengthHistogram":
        lengths, counts = np.unique(np.asarray(document_lengths, np.int64), return_counts=True)
        return cls(lengths, counts.astype(np.int64))


def _sha256_file(path: str) -> str:
    import tensorflow as tf

    digest = hashlib.sha256()
    with tf.io.gfile.GFile(path, "rb") as f:
        digest.update(f.read())
    return digest.hexdigest()


def count_document_lengths(task_name: str, split: str = "train") -> np.ndarray:
    """Tokens (EOS included) of every document of a Task's split, as the Task yields them with
    no sequence length (documents whole), from the seqio cache when the Task is cached."""
    import seqio
    import tensorflow as tf

    task = seqio.get_mixture_or_task(task_name)
    cached = bool(task.cache_dir) and tf.io.gfile.exists(
        os.path.join(task.cache_dir, f"stats.{split}.json"))
    ds = task.get_dataset(None, split=split, shuffle=False, num_epochs=1, use_cached=cached,
                          try_in_mem_cache=False)
    sizes = ds.map(lambda ex: tf.size(ex["targets"]), num_parallel_calls=tf.data.AUTOTUNE,
                   deterministic=True).batch(4096)
    parts = [np.asarray(b, np.int64) for b in sizes.as_numpy_iterator()]
    return np.concatenate(parts) if parts else np.zeros([0], np.int64)


def length_histogram(task_name: str, data_dir: str, source: str, vocabulary: str,
                     split: str = "train") -> LengthHistogram:
    """The recorded histogram when it is current, else counted now and recorded."""
    import tensorflow as tf

    record_path = os.path.join(data_dir, source, RECORD_NAME.format(split=split))
    manifest = os.path.join(data_dir, source, "manifest.json")
    key = {"vocabulary_sha256": _sha256_file(vocabulary),
           "source_manifest_sha256": (_sha256_file(manifest) if tf.io.gfile.exists(manifest)
                                      else None)}
    if tf.io.gfile.exists(record_path):
        try:
            with tf.io.gfile.GFile(record_path, "r") as f:
                record = json.load(f)
            if all(record.get(k) == v for k, v in key.items()):
                return LengthHistogram(np.asarray(record["lengths"], np.int64),
                                       np.asarray(record["counts"], np.int64))
        except (ValueError, KeyError) as e:
            log.warning("ignoring unreadable %s (%s); counting again", record_path, e)
    log.info("counting document lengths of %s (%s split), once", task_name, split)
    hist = LengthHistogram.of(count_document_lengths(task_name, split))
    record = dict(key, task=task_name, split=split, documents=hist.documents, tokens=hist.tokens,
                  lengths=hist.lengths.tolist(), counts=hist.counts.tolist())
    try:
        tmp = f"{record_path}.tmp-{os.getpid()}"
        with tf.io.gfile.GFile(tmp, "w") as f:
            json.dump(record, f)
        tf.io.gfile.rename(tmp, record_path, overwrite=True)
    except (tf.errors.OpError, OSError) as e:  # a read-only data_dir: use it unrecorded
        log.warning("could not record %s (%s): it will be counted again next time", record_path, e)
    return hist
