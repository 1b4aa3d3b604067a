"""Verify (or record) the checksums of checkpoints from the command line (launch/run/checksums.py).

    python -m launch.checkpoint_verify runs/x             # verify every checkpoint of a MODEL_DIR
    python -m launch.checkpoint_verify runs/x/checkpoint_800 --write   # trust a checkpoint written
                                                          # before checksums existed (records them)
"""

from __future__ import annotations

import argparse
import re
import sys

from etils import epath

from launch.run import paths
from launch.run.checksums import verify, write_manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launch.checkpoint_verify",
                                     description="Verify (or record) checkpoint checksums.")
    parser.add_argument("path", help="a checkpoint_<step> folder or a MODEL_DIR")
    parser.add_argument("--write", action="store_true",
                        help="record checksums for a checkpoint you trust that has none")
    args = parser.parse_args(argv)
    path = paths.resolve(args.path)
    name = epath.Path(path).name
    if re.fullmatch(r"checkpoint_\d+", name):
        targets = [path]
    else:
        targets = [paths.join(path, n) for n in paths.listdir(path)
                   if re.fullmatch(r"checkpoint_\d+", n)]
        targets.sort(key=lambda p: int(p.rsplit("_", 1)[1]))
    if not targets:
        print(f"error: no checkpoint_<step> folder at {path}", file=sys.stderr)
        return 2
    if args.write:
        if len(targets) != 1:
            print("error: --write takes one checkpoint_<step> folder", file=sys.stderr)
            return 2
        manifest = write_manifest(targets[0])
        print(f"{targets[0]}: recorded checksums of {len(manifest['files'])} files")
        return 0
    bad = 0
    for target in targets:
        problems = verify(target)
        bad += bool(problems)
        print(f"{target}: {'OK' if not problems else 'FAILED'}")
        for problem in problems:
            print(f"  {problem.file}: {problem.check} ({problem.detail})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
