"""TFDS datasets prepared in a local (or gs://) data_dir. Nothing is ever downloaded.

Planning cuts the source's split into sub-splits on shard boundaries (at most MAX_UNITS_PER_SPLIT
per split; `train[:10%]+test` style splits work too), so workers read in parallel and each reads
whole TFRecord files. `read_unit` loads the builder — `tfds.builder(name, data_dir=...)`, and when
the dataset's code is not registered in the worker, the prepared folder itself with
`tfds.builder_from_directory` — and reads its sub-split in file order (`shuffle_files=False`,
`interleave_cycle_length=1`: TFDS's default interleaves 16 files, which keeps the order stable
but not the split's order).

text      the `source.text_field` feature (bytes decoded as UTF-8 strictly)
location  the `source.id_field` feature when configured and present, else
          '<dataset>/<split>/<index>', index being the example's position in the whole split
          (stable across runs and across how the split is cut)
meta      dataset, split, index, url (from `source.url_field` when configured)

tensorflow_datasets (and TensorFlow) are imported only when a tfds source is planned or read.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Iterator

from apache_beam.io.filesystems import FileSystems

from pipeline.document import DeadLetter, Document
from pipeline.readers.base import (
    ReaderError,
    ReadUnit,
    dead_letter,
    document,
    id_value,
    type_name,
    url_value,
)
from pipeline.spec import SourceSpec

MAX_UNITS_PER_SPLIT = 64


def _tfds():
    import tensorflow_datasets

    return tensorflow_datasets


def plan(source: SourceSpec) -> list[ReadUnit]:
    tfds = _tfds()
    builder = load_builder(source.name, source.tfds_name, source.tfds_data_dir)
    features = builder.info.features
    names = sorted(features.keys()) if hasattr(features, "keys") else []
    if source.text_field not in names:
        raise ReaderError(f"source '{source.name}': TFDS dataset '{source.tfds_name}' has no "
                          f"feature '{source.text_field}' (features: {', '.join(names) or 'none'})")
    splits = builder.info.splits
    try:
        instructions = tfds.core.ReadInstruction.from_spec(source.tfds_split).to_absolute(splits)
    except (ValueError, KeyError, AssertionError) as e:
        raise ReaderError(f"source '{source.name}': split '{source.tfds_split}' of TFDS dataset "
                          f"'{source.tfds_name}' is not usable: {e} (splits: "
                          f"{', '.join(sorted(splits.keys()))})") from None
    units = []
    for instruction in instructions:
        info = splits[instruction.splitname]
        start = instruction.from_ or 0
        end = instruction.to if instruction.to is not None else info.num_examples
        for a, b in split_ranges(list(info.shard_lengths), start, end, MAX_UNITS_PER_SPLIT):
            units.append(ReadUnit(source=source.name,
                                  display=f"{source.tfds_name}/{instruction.splitname}",
                                  path=f"{instruction.splitname}[{a}:{b}]", start=a))
    if not units:
        raise ReaderError(f"source '{source.name}': split '{source.tfds_split}' of TFDS dataset "
                          f"'{source.tfds_name}' in '{source.tfds_data_dir}' has no examples")
    return units


def split_ranges(shard_lengths: list[int], start: int, end: int,
                 max_pieces: int) -> list[tuple[int, int]]:
    """[start, end) cut at shard boundaries into at most `max_pieces` contiguous ranges."""
    if end <= start:
        return []
    cuts = [start]
    boundary = 0
    for length in shard_lengths:
        boundary += length
        if start < boundary < end:
            cuts.append(boundary)
    cuts.append(end)
    pieces = list(zip(cuts, cuts[1:]))
    if len(pieces) <= max_pieces:
        return pieces
    merged = []
    for i in range(max_pieces):
        group = pieces[i * len(pieces) // max_pieces:(i + 1) * len(pieces) // max_pieces]
        merged.append((group[0][0], group[-1][1]))
    return merged


@functools.lru_cache(maxsize=8)
def load_builder(source_name: str, name: str | None, data_dir: str | None) -> Any:
    """The prepared dataset's builder; a clear ReaderError when it is not prepared."""
    if not name:
        raise ReaderError(f"source '{source_name}': no TFDS dataset name given")
    if not data_dir:
        raise ReaderError(f"source '{source_name}': TFDS dataset '{name}' needs a data_dir "
                          "holding the prepared dataset (nothing is downloaded)")
    hint = (f"readers never download: prepare it first, e.g. `tfds build {name.split(':')[0]} "
            f"--data_dir {data_dir}`")
    if not FileSystems.exists(data_dir):
        raise ReaderError(f"source '{source_name}': TFDS data_dir '{data_dir}' does not exist; "
                          f"{hint}")
    tfds = _tfds()
    builder = None
    first_error = ""
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # noqa: BLE001 - unregistered, or registered but unbuildable: try files
        first_error = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    if builder is not None and not _prepared(builder):
        builder = None
    if builder is None:
        builder = _builder_from_prepared_folder(tfds, name, data_dir)
    if builder is None:
        reason = f" ({first_error})" if first_error else ""
        raise ReaderError(f"source '{source_name}': TFDS dataset '{name}' is not prepared in "
                          f"data_dir '{data_dir}'{reason}; {hint}")
    return builder


def _prepared(builder: Any) -> bool:
    try:
        return bool(builder.is_prepared())
    except Exception:  # noqa: BLE001 - a builder that cannot tell is not usable
        return False


def _builder_from_prepared_folder(tfds: Any, name: str, data_dir: str) -> Any:
    """`<data_dir>/<name>[/<config>]/<version>`: the given version, else the newest one."""
    base_name, _, version = name.partition(":")
    base = FileSystems.join(data_dir, *base_name.split("/"))
    if version:
        folders = [FileSystems.join(base, version)]
    else:
        try:
            infos = FileSystems.match([FileSystems.join(base, "*", "dataset_info.json")])
        except Exception:  # noqa: BLE001 - nothing listable means nothing prepared
            return None
        folders = sorted({os.path.dirname(m.path) if "://" not in m.path
                          else m.path.rsplit("/", 1)[0]
                          for r in infos for m in r.metadata_list}, key=_version_key, reverse=True)
    for folder in folders:
        if not FileSystems.exists(FileSystems.join(folder, "dataset_info.json")):
            continue
        try:
            return tfds.builder_from_directory(folder)
        except Exception:  # noqa: BLE001 - a broken folder: try an older version
            continue
    return None


def _version_key(folder: str) -> tuple:
    version = folder.rstrip("/").rsplit("/", 1)[-1]
    try:
        return tuple(int(p) for p in version.split("."))
    except ValueError:
        return ()


def read(unit: ReadUnit, source: SourceSpec) -> Iterator[Document | DeadLetter]:
    import tensorflow as tf

    tfds = _tfds()
    builder = load_builder(source.name, source.tfds_name, source.tfds_data_dir)
    split = unit.path.split("[", 1)[0]
    try:
        dataset = builder.as_dataset(
            split=unit.path, shuffle_files=False,
            read_config=tfds.ReadConfig(interleave_cycle_length=1, try_autocache=False))
    except (tf.errors.OpError, ValueError, AssertionError, OSError) as e:
        yield dead_letter(source, unit, unit.start, f"cannot open sub-split {unit.path}: {e}")
        return
    examples = iter(tfds.as_numpy(dataset))
    index = unit.start
    while True:
        try:
            example = next(examples)
        except StopIteration:
            return
        except tf.errors.OpError as e:
            yield dead_letter(source, unit, index,
                              f"cannot read example {index} of {unit.path}: "
                              f"{type(e).__name__}: {e.message}")
            return
        yield _example_record(unit, source, split, index, example)
        index += 1


def _example_record(unit: ReadUnit, source: SourceSpec, split: str, index: int,
                    example: Any) -> Document | DeadLetter:
    field = source.text_field
    value = _scalar(example.get(field)) if isinstance(example, dict) else None
    if value is None:
        return dead_letter(source, unit, index, f"example has no text feature '{field}'")
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as e:
            return dead_letter(source, unit, index,
                               f"text feature '{field}': invalid UTF-8 at byte {e.start}",
                               excerpt=value)
    if not isinstance(value, str):
        return dead_letter(source, unit, index,
                           f"text feature '{field}' is a {type_name(value)}, not text")
    if not value.strip():
        return dead_letter(source, unit, index, f"text feature '{field}' is empty")
    location = None
    if source.id_field:
        location = id_value(_scalar(example.get(source.id_field)))
    if location is None:
        location = f"{unit.display}/{index}"
    meta: dict[str, Any] = {"dataset": source.tfds_name, "split": split, "index": index}
    if source.url_field:
        url = url_value(_scalar(example.get(source.url_field)))
        if url is not None:
            meta["url"] = url
    return document(source, location, value, meta)


def _scalar(value: Any) -> Any:
    """numpy scalars and 0-d arrays as Python values; other arrays unchanged."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    elif isinstance(value, np.generic):
        value = value.item()
    return value
