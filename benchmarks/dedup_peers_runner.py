"""The peers of benchmarks/bench_dedup.py; runs inside benchmarks/work/venv-datatrove.

It imports nothing from this project. Two sub-commands, each timed from the outside by the
caller and writing the ids it removed (one per line) to --removed:

    datatrove   datatrove 0.10.1's MinHash deduplication as its own example runs it: four
                LocalPipelineExecutors (MinhashDedupSignature -> MinhashDedupBuckets ->
                MinhashDedupCluster -> MinhashDedupFilter with an exclusion writer), word
                5-grams, 64-bit hashes, the given buckets x hashes per bucket. No verification
                of candidate pairs (datatrove has none).
    datasketch  datasketch's MinHashLSH used the usual streaming way in one process: for each
                document, MinHash of its word 5-gram set (update_batch), query the index, drop
                the document when the query returns anything, else insert it. Its threshold
                picks bands x rows with datasketch's own optimal_param. No verification.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import os
import sys


def cmd_datatrove(args) -> int:
    from datatrove.executor.local import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    config = MinhashConfig(n_grams=5, num_buckets=args.buckets,
                           hashes_per_bucket=args.hashes_per_bucket,
                           hash_config=HashConfig(precision=64))
    work = args.work_dir

    def reader():
        return JsonlReader(args.input_dir, glob_pattern="*.jsonl.gz", text_key="text",
                           id_key="id")

    signatures = LocalPipelineExecutor(
        pipeline=[reader(), MinhashDedupSignature(output_folder=f"{work}/signatures",
                                                  config=config, language="en")],
        tasks=args.tasks, workers=args.workers, logging_dir=f"{work}/logs/signatures")
    buckets = LocalPipelineExecutor(
        pipeline=[MinhashDedupBuckets(input_folder=f"{work}/signatures",
                                      output_folder=f"{work}/buckets", config=config)],
        tasks=args.buckets, workers=args.workers, logging_dir=f"{work}/logs/buckets",
        depends=signatures)
    cluster = LocalPipelineExecutor(
        pipeline=[MinhashDedupCluster(input_folder=f"{work}/buckets",
                                      output_folder=f"{work}/remove_ids", config=config)],
        tasks=1, logging_dir=f"{work}/logs/clusters", depends=buckets)
    dedup_filter = LocalPipelineExecutor(
        pipeline=[reader(),
                  MinhashDedupFilter(input_folder=f"{work}/remove_ids",
                                     exclusion_writer=JsonlWriter(f"{work}/removed")),
                  JsonlWriter(f"{work}/output")],
        tasks=args.tasks, workers=args.workers, logging_dir=f"{work}/logs/filter",
        depends=cluster)
    dedup_filter.run()
    with open(args.removed, "w", encoding="utf-8") as out:
        for path in sorted(glob.glob(f"{work}/removed/*.jsonl.gz")):
            with gzip.open(path, "rt", encoding="utf-8") as f:
                for line in f:
                    out.write(json.loads(line)["id"] + "\n")
    return 0


def cmd_datasketch(args) -> int:
    import numpy as np
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=args.threshold, num_perm=args.num_perm)
    permutations = MinHash(num_perm=args.num_perm, seed=1).permutations
    removed = []
    for path in sorted(glob.glob(os.path.join(args.input_dir, "*.jsonl.gz"))):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                record = json.loads(line)
                words = record["text"].lower().split()
                shingles = {" ".join(words[i:i + 5]).encode("utf-8")
                            for i in range(max(1, len(words) - 4))}
                m = MinHash(num_perm=args.num_perm, permutations=permutations)
                m.update_batch(list(shingles))
                if lsh.query(m):
                    removed.append(record["id"])
                else:
                    lsh.insert(record["id"], m)
    with open(args.removed, "w", encoding="utf-8") as out:
        out.write("".join(f"{i}\n" for i in removed))
    json.dump({"bands": lsh.b, "rows": lsh.r, "numpy": np.__version__}, sys.stdout)
    print()
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("datatrove", "datasketch"))
    parser.add_argument("--input_dir", required=True)
    parser.add_argument("--removed", required=True, help="file for the removed ids")
    parser.add_argument("--work_dir", help="datatrove: its intermediate files and logs")
    parser.add_argument("--buckets", type=int, default=16)
    parser.add_argument("--hashes_per_bucket", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--num_perm", type=int, default=128)
    args = parser.parse_args(argv)
    return {"datatrove": cmd_datatrove, "datasketch": cmd_datasketch}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
