"""seqio preprocessors of this project's Tasks (BUILD.md §4).

`tokenize_batched` is a drop-in for `seqio.preprocessors.tokenize` that calls the vocabulary once
per batch of texts instead of once per example (the same examples, order and fields; a modest
6-26 % more tokens per CPU-second in the uncached loader, BUILD.md §5).
`split_to_sequence_length` replaces seqio's trimming: a document longer than the sequence
length becomes consecutive pieces instead of losing everything after its first `length` tokens.
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


def split_to_sequence_length(dataset, output_features: Mapping, sequence_length=None,
                             feature_key: str = "targets"):
    """Splits each example's `feature_key` tokens into consecutive pieces of at most
    `sequence_length[feature_key]` tokens, one example per piece, in order, so that no token of
    a long document is trimmed away (seqio trims every example to the sequence length at the end
    of `Task.get_dataset`). Run it after EOS is appended: the EOS then ends the last piece only.

    Other fields are repeated on every piece, except `<feature_key>_pretokenized`, which is
    dropped (the document's text is not the piece's). Without a length for the feature (e.g.
    `get_dataset(None)`) the dataset is returned unchanged.
    """
    import tensorflow as tf

    length = (sequence_length or {}).get(feature_key)
    if length is None:
        return dataset
    if length < 1:
        raise ValueError(f"split_to_sequence_length: sequence_length[{feature_key!r}] must be "
                         f">= 1, got {length}")
    spec = dataset.element_spec
    if feature_key not in spec or spec[feature_key].shape.rank != 1:
        raise ValueError(f"split_to_sequence_length: needs a 1-D {feature_key!r} token sequence "
                         f"per example, got {spec.get(feature_key)}")
    dropped = f"{feature_key}_pretokenized"

    def split(example):
        tokens = example[feature_key]
        size = tf.size(tokens, out_type=tf.int64)
        pieces = tf.maximum((size + length - 1) // length, 1)  # an empty sequence stays one
        row_lengths = tf.concat([tf.fill([pieces - 1], tf.constant(length, tf.int64)),
                                 [size - (pieces - 1) * length]], axis=0)
        out = {feature_key: tf.RaggedTensor.from_row_lengths(tokens, row_lengths)}
        for key, value in example.items():
            if key not in (feature_key, dropped):
                out[key] = tf.repeat(value[tf.newaxis], pieces, axis=0)
        return out

    # As in tokenize_batched, the identity map turns the unbatched ragged rows back into tensors.
    return (dataset.map(split, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .unbatch()
            .map(lambda example: example))
