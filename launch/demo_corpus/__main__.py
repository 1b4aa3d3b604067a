"""The command line: python -m launch.demo_corpus --output_dir DIR [--size_mb 8] [--seed 0]"""

from __future__ import annotations

import argparse
import sys
import time

from launch.demo_corpus.corpus import generate
from launch.demo_corpus.layout import MB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m launch.demo_corpus",
        description="Write the deterministic demo raw corpus (7 sources, 6 formats, planted "
                    "duplicates/junk/PII and a ground truth) built from the Python stdlib.")
    parser.add_argument("--output_dir", required=True, help="folder to write (created)")
    parser.add_argument("--size_mb", type=float, default=8.0,
                        help="approximate raw (uncompressed) size in 10^6 bytes (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        summary = generate(args.output_dir, size_mb=args.size_mb, seed=args.seed)
    except (FileExistsError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - start
    print(f"wrote {summary['documents']} documents, {summary['raw_bytes'] / MB:.1f} MB raw, "
          f"{summary['disk_bytes'] / MB:.1f} MB on disk, "
          f"{sum(summary['planted'].values())} planted items, {summary['malformed']} malformed "
          f"inputs to {args.output_dir} in {elapsed:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
