"""CRC32C of files, and where a TFRecord file is damaged: the one checksum every output the
project writes carries (checkpoints, prep outputs, seqio caches, materialised streams).

A manifest lists each file as `{"bytes": size, "crc32c": 8 hex digits}` (`checksum_files`);
`verify_files` compares a folder with such a listing. TFRecord files also carry a masked CRC32C
per record (length and payload), which tf.data checks on every read but reports without the
file's name ("corrupted record at <offset>"): `tfrecord_damage` finds the file and the record.
Paths are local or any scheme Beam's FileSystems knows (gs://, ...).
"""

from __future__ import annotations

import dataclasses
import os
import struct
from typing import Any, BinaryIO, Iterable

import google_crc32c

_CHUNK = 16 << 20
ALGORITHM = "crc32c"


class DataCorrupt(Exception):
    """A data file failed a check while being read: names the file and the record."""

    def __init__(self, file: str, record: str, detail: str):
        self.file, self.record, self.detail = file, record, detail
        super().__init__(f"damaged data file {file}: {record}: {detail} (python -m "
                         f"launch.data_verify <its directory> checks every file)")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One failed check of a data directory: which file, which check, what was found."""

    file: str
    check: str  # "missing file", "size", "crc32c", "record crc", "manifest"
    detail: str

    def __str__(self) -> str:
        return f"{self.file}: {self.check} check failed ({self.detail})"


def _open(path: Any) -> BinaryIO:
    if hasattr(path, "open"):  # epath.Path, pathlib.Path
        return path.open("rb")
    path = os.fspath(path)
    if "://" not in path:
        return open(path, "rb")
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def crc32c_of(path: Any) -> tuple[int, str]:
    """(size in bytes, CRC32C as 8 hex digits) of a file, read in 16 MiB chunks."""
    checksum = google_crc32c.Checksum()
    size = 0
    with _open(path) as f:
        while chunk := f.read(_CHUNK):
            checksum.update(chunk)
            size += len(chunk)
    return size, checksum.hexdigest().decode()


def _join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name


def checksum_files(directory: str, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{name: {"bytes", "crc32c"}} of the files `names` (relative paths) under `directory`."""
    out = {}
    for name in sorted(names):
        size, crc = crc32c_of(_join(directory, name))
        out[name] = {"bytes": size, ALGORITHM: crc}
    return out


def _exists(path: str) -> bool:
    if "://" not in path:
        return os.path.exists(path)
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


def verify_files(directory: str, listing: dict[str, dict[str, Any]]) -> list[Problem]:
    """Problems of the files of `listing` (checksum_files' form) under `directory`."""
    problems = []
    for name, expected in sorted(listing.items()):
        path = _join(directory, name)
        if not isinstance(expected, dict) or ALGORITHM not in expected:
            problems.append(Problem(name, "manifest", f"no {ALGORITHM} listed: {expected!r}"))
        elif not _exists(path):
            problems.append(Problem(name, "missing file", "listed in the manifest but absent"))
        else:
            size, crc = crc32c_of(path)
            if size != expected.get("bytes"):
                problems.append(Problem(name, "size",
                                        f"{size} bytes, {expected.get('bytes')} written"))
            elif crc != expected[ALGORITHM]:
                problems.append(Problem(name, "crc32c", f"{crc}, {expected[ALGORITHM]} written"))
    return problems


# ---------------------------------------------------------------------------------------------
# TFRecord framing: uint64 length, masked crc32c(length), payload, masked crc32c(payload)

def _masked(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _check_record(f: BinaryIO, offset: int) -> tuple[int | None, str | None]:
    """(offset of the next record, None) or (None, what is wrong) for the record at `offset`."""
    f.seek(offset)
    header = f.read(12)
    if len(header) < 12:
        return None, f"truncated header ({len(header)} of 12 bytes)"
    length, crc = struct.unpack("<QI", header)
    if _masked(header[:8]) != crc:
        return None, "length checksum mismatch"
    payload = f.read(length)
    footer = f.read(4)
    if len(payload) < length or len(footer) < 4:
        return None, f"truncated record (length {length})"
    if _masked(payload) != struct.unpack("<I", footer)[0]:
        return None, "payload checksum mismatch"
    return offset + 16 + length, None


def first_bad_record(path: str, stop_at: int | None = None) -> tuple[int, int, str] | None:
    """(record index, byte offset, what is wrong) of the first damaged record of a TFRecord file
    (uncompressed), or None; reads the file up to the record covering `stop_at` when given."""
    with _open(path) as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        offset, index = 0, 0
        while offset < size:
            following, problem = _check_record(f, offset)
            if problem:
                return index, offset, problem
            if stop_at is not None and following > stop_at:
                return None
            offset, index = following, index + 1
    return None


def tfrecord_damage(paths: Iterable[str], offset: int | None = None) -> DataCorrupt | None:
    """The damage tf.data reported as "corrupted record at `offset`", located among `paths`
    (only on failure: reads each candidate up to that offset), or None if none is damaged."""
    for path in paths:
        try:
            found = first_bad_record(path, stop_at=offset)
        except OSError:  # not a file (a function source's split name), or unreadable
            continue
        if found:
            index, at, problem = found
            return DataCorrupt(path, f"record {index} (byte {at})", problem)
    return None
