"""seqio preprocessors of this project's Tasks.

`tokenize_batched` is a drop-in for `seqio.preprocessors.tokenize` that calls the vocabulary once
per batch of texts instead of once per example. seqio maps its tokenizer over single examples, so
the uncached loader spends most of its time in per-call overhead of the SentencePiece op; on
whole batches the same model runs several times faster (benchmarks/bench_tasks.py, BUILD.md §5).
The examples, their order and their fields are those of seqio's tokenize.
"""

from __future__ import annotations

from typing import Mapping

DEFAULT_BATCH_SIZE = 256


def tokenize_batched(dataset, output_features: Mapping, copy_pretokenized: bool = True,
                     batch_size: int = DEFAULT_BATCH_SIZE):
    """`seqio.preprocessors.tokenize` (without `with_eos`), batched: group `batch_size` examples,
    tokenize each output feature's texts in one `vocabulary.encode_tf` call (a ragged batch),
    and split the batch back into the same examples in the same order.

    Keeps every other field, and `<feature>_pretokenized` copies of the texts when
    `copy_pretokenized`, as seqio does. Order is deterministic whatever the dataset's
    `tf.data.Options.deterministic` says (the batch map is explicitly deterministic).
    The texts must be scalar strings, and the other fields of fixed shape (they are batched).
    """
    import seqio
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"tokenize_batched: batch_size must be >= 1, got {batch_size}")
    spec = dataset.element_spec
    to_tokenize = [k for k in spec if k in output_features]
    for key in to_tokenize:
        vocabulary = output_features[key].vocabulary
        if not isinstance(vocabulary, seqio.SentencePieceVocabulary):
            raise ValueError(
                f"tokenize_batched: feature {key!r} has a {type(vocabulary).__name__}; batched "
                f"tokenizing needs a seqio.SentencePieceVocabulary (use "
                f"seqio.preprocessors.tokenize for other vocabularies)")
        if spec[key].dtype != tf.string or spec[key].shape.rank != 0:
            raise ValueError(
                f"tokenize_batched: feature {key!r} must be a scalar string per example to be "
                f"tokenized in batches, got {spec[key]} (use seqio.preprocessors.tokenize)")
    for key, field in spec.items():
        if key not in to_tokenize and not field.shape.is_fully_defined():
            raise ValueError(
                f"tokenize_batched: field {key!r} has a variable shape {field.shape}, which "
                f"cannot be batched; drop or pad it before tokenizing, or use "
                f"seqio.preprocessors.tokenize")

    def tokenize_batch(batch):
        out = {}
        for key, value in batch.items():
            if key in output_features:
                if copy_pretokenized:
                    out[f"{key}_pretokenized"] = value
                # A ragged [batch, None] int32: one row per example.
                out[key] = output_features[key].vocabulary.encode_tf(value)
            else:
                out[key] = value
        return out

    # Unbatching a ragged batch gives RaggedTensorSpecs of ragged_rank 0; inside a map they are
    # plain tensors, so an identity map restores seqio's element_spec (TensorSpec [None] int32).
    return (dataset.batch(batch_size)
            .map(tokenize_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .unbatch()
            .map(lambda example: example))
