"""What the data checks cost the loaders (issue 22): with and without the checks added.

    PYTHONPATH=. python benchmarks/bench_data_checks.py [--rows 8192] [--length 1024]

Peers, alternated in one run (same machine load):
- stream loader: StreamReader.read (Riegeli's chunk hash, always checked by the format, plus the
  added catch that names file and record) against the same records read straight from Grain's
  ArrayRecordDataSource and decoded (no added check);
- tf.data: a TFRecordDataset read through launch/inputs/data.py's `named_damage` wrapper (which
  turns DataLossError into DataCorrupt) against the bare iterator; tf.data checks TFRecord CRCs
  either way;
- the price of the manifests: CRC32C throughput (pipeline/file_checksums.py), which bounds the
  time to checksum an output when it is written and to verify it with launch.data_verify.
Writes benchmarks/results/data_checks.json (date, machine, load average inside).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import statistics
import tempfile
import time

import numpy as np

from pipeline import file_checksums
from tasks import stream_format

RESULT = pathlib.Path(__file__).parent / "results" / "data_checks.json"


def _stream_pass(reader, batch: int, checked: bool) -> float:
    start = time.perf_counter()
    for first in range(0, len(reader) - batch + 1, batch):
        if checked:
            reader.read(first, batch)
        else:
            stream_format.decode_rows(reader._source.__getitems__(range(first, first + batch)),
                                      reader.sequence_length)
    return time.perf_counter() - start


def _tfdata_pass(paths: list[str], checked: bool) -> float:
    import tensorflow as tf

    from launch.inputs.data import named_damage

    start = time.perf_counter()
    iterator = tf.data.TFRecordDataset(paths).batch(64).as_numpy_iterator()
    for _ in named_damage(iterator, None) if checked else iterator:
        pass
    return time.perf_counter() - start


def _alternate(fn, repeats: int) -> dict:
    """Median seconds of fn(checked) for both peers, alternated."""
    times = {True: [], False: []}
    for _ in range(repeats):
        for checked in (False, True):
            times[checked].append(fn(checked))
    without, with_ = statistics.median(times[False]), statistics.median(times[True])
    return {"seconds_without": round(without, 4), "seconds_with": round(with_, 4),
            "overhead_percent": round(100 * (with_ - without) / without, 2),
            "runs": {"without": times[False], "with": times[True]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=8192)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    import tensorflow as tf

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        tokens = rng.integers(2, 32000, (args.rows, args.length)).astype(np.int32)
        sources = rng.integers(0, 4, (args.rows, args.length)).astype(np.uint8)
        stream_dir = os.path.join(tmp, "stream")
        stream_format.write_synthetic(stream_dir, tokens, sources, list("abcd"),
                                      rows_per_shard=args.rows // 4)
        reader = stream_format.StreamReader(stream_dir)
        stream_bytes = sum(os.path.getsize(os.path.join(stream_dir, s["file"]))
                           for s in reader.manifest["shards"])
        stream = _alternate(lambda c: _stream_pass(reader, args.batch, c), args.repeats)
        stream["rows_per_second_with"] = round(args.rows / stream["seconds_with"])

        paths = []
        for shard in range(4):
            paths.append(os.path.join(tmp, f"train-{shard:05d}-of-00004.tfrecord"))
            with tf.io.TFRecordWriter(paths[-1]) as writer:
                for row in range(shard, args.rows, 4):
                    writer.write(stream_format.encode_row(tokens[row], sources[row]))
        tfdata = _alternate(lambda c: _tfdata_pass(paths, c), args.repeats)

        files = [os.path.join(stream_dir, s["file"]) for s in reader.manifest["shards"]]
        crc_times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            for path in files:
                file_checksums.crc32c_of(path)
            crc_times.append(time.perf_counter() - start)
        crc_seconds = statistics.median(crc_times)

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({os.cpu_count()} cpus, {platform.machine()})",
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "data": {"rows": args.rows, "sequence_length": args.length, "batch": args.batch,
                 "stream_bytes": stream_bytes, "repeats": args.repeats},
        "stream_loader": stream,
        "tfdata_tfrecord": tfdata,
        "crc32c": {"seconds": round(crc_seconds, 4),
                   "mb_per_second": round(stream_bytes / crc_seconds / 1e6, 1)},
        "notes": ("'without' is the same read with no added check; Riegeli chunk hashes and "
                  "TFRecord CRCs are checked by the formats in both peers (they cannot be "
                  "turned off in these readers). Nothing reads whole files at start-up."),
    }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("notes",)}, indent=1))


if __name__ == "__main__":
    main()
