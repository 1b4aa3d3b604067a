"""Sharded safetensors, written one array at a time and read one tensor at a time.

Layout is transformers' own: `model-00001-of-0000N.safetensors` files plus
`model.safetensors.index.json` ({"metadata": {"total_size": bytes}, "weight_map": {name: file}});
a single shard is `model.safetensors` with no index. A shard is written once it would pass
`max_shard_size`, so the host holds at most one shard plus the array being added.
"""

from __future__ import annotations

import json
import os
import re

import ml_dtypes
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
DTYPES = {"float32": np.dtype(np.float32), "bfloat16": np.dtype(ml_dtypes.bfloat16)}
_UNITS = {"": 1, "B": 1, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12,
          "KIB": 2 ** 10, "MIB": 2 ** 20, "GIB": 2 ** 30, "TIB": 2 ** 40}


def parse_size(text: str) -> int:
    """'2GB', '500MB', '1GiB' or a byte count -> bytes (transformers' units: GB = 10**9)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?I?B?)\s*", text.upper())
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--max_shard_size={text!r}: expected a size such as 2GB, 500MB or "
                         "1GiB")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


class ShardWriter:
    """Adds tensors in order; flushes a shard when the next tensor would exceed `max_bytes`."""

    def __init__(self, output_dir: str, max_bytes: int):
        self.output_dir = output_dir
        self.max_bytes = max_bytes
        self._pending: dict[str, np.ndarray] = {}
        self._pending_bytes = 0
        self._shards: list[list[str]] = []  # tensor names per written shard
        self.total_bytes = 0

    def add(self, name: str, tensor: np.ndarray) -> None:
        if self._pending and self._pending_bytes + tensor.nbytes > self.max_bytes:
            self._flush()
        self._pending[name] = np.ascontiguousarray(tensor)
        self._pending_bytes += tensor.nbytes
        self.total_bytes += tensor.nbytes

    def _flush(self) -> None:
        number = len(self._shards) + 1
        path = os.path.join(self.output_dir, f"part-{number:05d}.tmp")
        save_file(self._pending, path, metadata={"format": "pt"})
        os.chmod(path, 0o644)  # safetensors creates files readable by their owner only
        self._shards.append(list(self._pending))
        self._pending, self._pending_bytes = {}, 0

    def close(self) -> list[str]:
        """Writes the last shard, names the shards `-of-N`, writes the index; returns the files."""
        if self._pending or not self._shards:
            self._flush()
        count = len(self._shards)
        if count == 1:
            os.replace(os.path.join(self.output_dir, "part-00001.tmp"),
                       os.path.join(self.output_dir, SINGLE))
            return [SINGLE]
        weight_map, files = {}, []
        for number, names in enumerate(self._shards, 1):
            final = f"model-{number:05d}-of-{count:05d}.safetensors"
            os.replace(os.path.join(self.output_dir, f"part-{number:05d}.tmp"),
                       os.path.join(self.output_dir, final))
            files.append(final)
            weight_map.update({name: final for name in names})
        index = {"metadata": {"total_size": self.total_bytes}, "weight_map": weight_map}
        with open(os.path.join(self.output_dir, INDEX), "w") as f:
            json.dump(index, f, indent=2, sort_keys=True)
        return files


class ShardReader:
    """Tensors of a Hugging Face folder (sharded with an index, or one model.safetensors)."""

    def __init__(self, folder: str):
        index_path, single = os.path.join(folder, INDEX), os.path.join(folder, SINGLE)
        if os.path.exists(index_path):
            with open(index_path) as f:
                try:
                    self.weight_map = dict(json.load(f)["weight_map"])
                except (ValueError, KeyError, TypeError) as e:
                    raise FileNotFoundError(f"{index_path}: unreadable index ({e})") from e
        elif os.path.exists(single):
            with safe_open(single, framework="np") as f:
                self.weight_map = dict.fromkeys(f.keys(), SINGLE)
        else:
            raise FileNotFoundError(f"{folder}: neither {INDEX} nor {SINGLE} (no weights)")
        self.folder = folder
        for file in sorted(set(self.weight_map.values())):
            if not os.path.exists(os.path.join(folder, file)):
                raise FileNotFoundError(f"{os.path.join(folder, file)}: listed in {INDEX} but "
                                        "absent")

    def names(self) -> set[str]:
        return set(self.weight_map)

    def read(self, name: str) -> np.ndarray:
        with safe_open(os.path.join(self.folder, self.weight_map[name]), framework="np") as f:
            return f.get_tensor(name)
