"""Checksums of a checkpoint's files, written after the save and checked before a restore.

Layout: `checkpoint_<step>/checksums/process_<i>.json`, one per host, listing the size and CRC32C
of every file host i wrote (its `ocdbt.process_<i>/` shards and `array_metadatas/process_<i>`;
host 0 also owns the shared metadata, the merged index and the data record). A host writes its
file through a temporary name and a rename once Orbax has committed the checkpoint, on a
background thread, so the training thread never reads a shard back. The set of all hosts' files
is the completion marker: a checkpoint whose saving process died before its checksums were down
(`kill -9`, a lost VM) is incomplete and is never restored silently.
`python -m launch.checkpoint_verify` checks (or records) them from the command line.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import logging
import re
import time

from etils import epath

from launch.run import paths
from pipeline import file_checksums

log = logging.getLogger("launch")
FOLDER = "checksums"
FORMAT = 1
# (size, CRC32C hex) of a file; a module global so that tests can wrap it
crc32c_of = file_checksums.crc32c_of
_OWNER = re.compile(r"(?:^|/)(?:ocdbt\.process_|array_metadatas/process_)(\d+)(?:/|$)")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One failed check: which checkpoint, which file, which check, and what was found."""

    checkpoint: str
    file: str
    check: str  # "completion marker", "missing file", "size", "crc32c", "manifest"
    detail: str

    def __str__(self) -> str:
        return f"{self.checkpoint}: {self.file}: {self.check} check failed ({self.detail})"


class CheckpointCorrupt(ValueError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(map(str, problems)))


def owner(relpath: str) -> int:
    """The process index that writes the file at `relpath` (inside a checkpoint folder)."""
    match = _OWNER.search(relpath)
    return int(match.group(1)) if match else 0


def _files(directory: epath.Path, prefix: str = "") -> list[str]:
    """Relative paths of the files under `directory`, without the checksums folder."""
    out = []
    for child in directory.iterdir():
        relpath = f"{prefix}{child.name}"
        if relpath == FOLDER:
            continue
        if child.is_dir():
            out += _files(child, relpath + "/")
        else:
            out.append(relpath)
    return sorted(out)


def write_manifest(checkpoint_dir: str, process_index: int = 0, process_count: int = 1) -> dict:
    """Checksums this host's files of a committed checkpoint and writes its manifest (last)."""
    start = time.perf_counter()
    directory = epath.Path(checkpoint_dir)
    files = {}
    for relpath in _files(directory):
        if owner(relpath) % process_count != process_index:
            continue
        size, crc = crc32c_of(directory / relpath)
        files[relpath] = {"bytes": size, "crc32c": crc}
    manifest = {"format": FORMAT, "algorithm": "crc32c", "process_index": process_index,
                "process_count": process_count, "files": files,
                "seconds": round(time.perf_counter() - start, 4)}
    paths.write_text_atomic(str(directory / FOLDER / f"process_{process_index}.json"),
                            json.dumps(manifest, indent=1, sort_keys=True))
    return manifest


def _read_manifest(directory: epath.Path, index: int,
                   name: str) -> tuple[dict | None, Problem | None]:
    path = directory / FOLDER / f"process_{index}.json"
    if not path.exists():
        return None, Problem(name, f"{FOLDER}/process_{index}.json", "completion marker",
                             "absent: the save did not finish (process killed while writing?) "
                             "or the checkpoint predates checksums")
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("format") != FORMAT or not isinstance(manifest.get("files"), dict):
            raise ValueError(f"unknown format {manifest.get('format')!r}")
        return manifest, None
    except (ValueError, UnicodeDecodeError) as e:
        return None, Problem(name, f"{FOLDER}/process_{index}.json", "manifest",
                             f"unreadable: {e}")


def verify(checkpoint_dir: str, process_index: int = 0, process_count: int = 1) -> list[Problem]:
    """Problems found in the checkpoint (empty: it verifies). Every host's completion marker is
    checked; the files themselves are read by the host that verifies them (host j checks the
    manifests of writers i with i % process_count == j), so each host reads about its share."""
    directory = epath.Path(checkpoint_dir)
    name = directory.name
    first, problem = _read_manifest(directory, 0, name)
    if problem:
        return [problem]
    writers = int(first.get("process_count", 1))
    problems = []
    for index in range(writers):
        manifest, problem = (first, None) if index == 0 else _read_manifest(directory, index, name)
        if problem:
            problems.append(problem)
            continue
        if index % process_count != process_index:
            continue
        for relpath, expected in sorted(manifest["files"].items()):
            path = directory / relpath
            if not path.exists():
                problems.append(Problem(name, relpath, "missing file",
                                        "listed in the checksums but absent"))
                continue
            size, crc = crc32c_of(path)
            if size != expected["bytes"]:
                problems.append(Problem(name, relpath, "size",
                                        f"{size} bytes, {expected['bytes']} written"))
            elif crc != expected["crc32c"]:
                problems.append(Problem(name, relpath, "crc32c",
                                        f"{crc}, {expected['crc32c']} written"))
    return problems


class BackgroundChecksums:
    """Writes manifests on one background thread, in save order; `wait` re-raises failures."""

    def __init__(self):
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="checksums")
        self._futures: list[concurrent.futures.Future] = []
        self.seconds: list[float] = []  # background time per checkpoint

    def submit(self, fn, *args) -> None:
        self._futures.append(self._pool.submit(self._timed, fn, *args))

    def _timed(self, fn, *args):
        start = time.perf_counter()
        fn(*args)
        self.seconds.append(time.perf_counter() - start)

    def wait(self) -> None:
        futures, self._futures = self._futures, []
        for future in futures:
            future.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)
