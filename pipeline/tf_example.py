"""A `tf.train.Example` of string features, encoded without TensorFlow.

The prep job's writer turns every kept document into an Example whose features each hold one
UTF-8 string. Importing TensorFlow only to build that message costs a Beam worker about 4.7
CPU-seconds (measured on the 2-core VM, issue 21), more than the quality rules spend on 37 MB of
text, so the message is written here from its wire format: bytes identical to
`tf.train.Example(...).SerializeToString(deterministic=True)` (map entries in key order), which
tests/test_tf_example.py checks against TensorFlow itself. Reading stays with TensorFlow.

    Example  { Features features = 1; }
    Features { map<string, Feature> feature = 1; }   (entry: key = 1, value = 2)
    Feature  { BytesList bytes_list = 1; ... }
    BytesList { repeated bytes value = 1; }
"""

from __future__ import annotations

from typing import Mapping

_LEN_FIELD_1 = b"\x0a"  # field 1, wire type 2 (length-delimited)
_LEN_FIELD_2 = b"\x12"  # field 2, wire type 2


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


def _map_order(key: str) -> tuple[int, ...]:
    """Protobuf's (upb's) deterministic order of string map keys: byte-wise, except that a key
    comes before its own prefixes ("ab" < "a"). The prep job's keys are no prefix of one
    another, so there any byte-wise order gives the same bytes."""
    return (*key.encode("utf-8"), 256)


def encode_string_features(features: Mapping[str, str]) -> bytes:
    """The serialised Example with one bytes value (the string's UTF-8) per feature."""
    entries = []
    for key in sorted(features, key=_map_order):
        value = features[key].encode("utf-8")
        feature = _field(_LEN_FIELD_1, _field(_LEN_FIELD_1, value))  # bytes_list { value }
        entry = _field(_LEN_FIELD_1, key.encode("utf-8")) + _field(_LEN_FIELD_2, feature)
        entries.append(_field(_LEN_FIELD_1, entry))
    return _field(_LEN_FIELD_1, b"".join(entries))
