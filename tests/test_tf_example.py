"""The TensorFlow-free Example encoder writes exactly the bytes TensorFlow writes."""

import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline import tf_example

KEYS = ("text", "id", "source", "role", "lang", "meta")


def tf_bytes(features: dict[str, str]) -> bytes:
    return tf.train.Example(features=tf.train.Features(feature={
        k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode("utf-8")]))
        for k, v in features.items()})).SerializeToString(deterministic=True)


@settings(max_examples=200, deadline=None)
@given(st.fixed_dictionaries({k: st.text(max_size=300) for k in KEYS}))
def test_same_bytes_as_tensorflow(features):
    assert tf_example.encode_string_features(features) == tf_bytes(features)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=20), max_size=6))
def test_any_keys_same_bytes_and_round_trip(features):
    encoded = tf_example.encode_string_features(features)
    assert encoded == tf_bytes(features)
    parsed = tf.train.Example.FromString(encoded).features.feature
    assert {k: parsed[k].bytes_list.value[0].decode("utf-8") for k in parsed} == features


def test_long_values_need_multi_byte_lengths():
    # 200 kB of text: lengths take three varint bytes at every level.
    features = {"text": "é" * 100_000, "id": "x", "source": "s", "role": "r", "lang": "",
                "meta": "{}"}
    assert tf_example.encode_string_features(features) == tf_bytes(features)
