"""Which copy of a duplicate group survives, as one sortable string per document.

`priority_key(doc, config)` orders documents so that the keeper of any group is simply the
smallest key in it. Exact dedup takes the minimum over a group; near dedup uses the key as the
node name in the connected-components graph, so the component's minimum node (its label once
the algorithm converges) is the keeper with no further step.

    smallest_id       "<id>"
    preferred_role    "<rank in role_preference, 3 digits>|<id>"   (unlisted roles rank last)
    quality_score     "0<descending score, 16 hex>|<id>" or "1|<id>" when the score is missing
                      or not a finite number (lowest priority); ties go to the smallest id

A suffix with 8 hex digits of the text's hash keeps keys distinct for the rare documents that
share an id (an `id_field` with repeated values) but differ in text.
"""

from __future__ import annotations

import hashlib
import math
import struct
from typing import Any

from pipeline.dedup.config import DedupConfig

SEPARATOR = "|"


def _descending_float(x: float) -> str:
    """16 hex digits that sort in descending order of x (IEEE-754 bit trick)."""
    bits = struct.unpack(">Q", struct.pack(">d", -x))[0]
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def quality_score(doc: dict[str, Any]) -> float | None:
    meta = doc.get("meta")
    score = meta.get("quality_score") if isinstance(meta, dict) else None
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        return None
    score = float(score)
    return score if math.isfinite(score) else None


def text_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()


def priority_key(doc: dict[str, Any], config: DedupConfig) -> str:
    """Smaller is kept first; unique per (id, text)."""
    doc_id = str(doc["id"])
    if config.keep == "preferred_role":
        roles = config.role_preference
        rank = roles.index(doc["role"]) if doc["role"] in roles else len(roles)
        prefix = f"{rank:03d}{SEPARATOR}"
    elif config.keep == "quality_score":
        score = quality_score(doc)
        prefix = ("1" if score is None else "0" + _descending_float(score)) + SEPARATOR
    else:
        prefix = ""
    return f"{prefix}{doc_id}{SEPARATOR}{text_digest(doc['text'])}"


def id_of(key: str, config: DedupConfig) -> str:
    """The document id inside a priority key (ids may themselves contain the separator)."""
    if config.keep != "smallest_id":
        key = key.split(SEPARATOR, 1)[1]
    return key.rsplit(SEPARATOR, 1)[0]
