#!/usr/bin/env python
"""Prepare VIPSeg in the unified video-panoptic format at 720p (124 classes; datasets/README.md).

Examples:
    python datasets/prepare_vipseg.py --vipseg ~/data/VIPSeg --out datasets/vipseg
    python datasets/prepare_vipseg.py --check --out datasets/vipseg

Run it again after an interruption: finished frames are skipped.
"""
import argparse
import sys

from vps_d2.data.categories import VIPSEG_CATEGORIES
from vps_d2.data.converters import vipseg
from vps_d2.data.converters.check import check_prepared
from vps_d2.data.converters.common import ConversionError, format_summary, run_cli

PROG = "prepare_vipseg.py"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vipseg", help="the VIPSeg release (imgs/, panomasks/, train.txt, val.txt)")
    p.add_argument("--out", required=True, help="output dataset folder, e.g. "
                   "$DETECTRON2_DATASETS/vipseg")
    p.add_argument("--split", choices=list(vipseg.SPLITS), default=None,
                   help="split to prepare or check (default: both)")
    p.add_argument("--workers", type=int, default=1, help="processes (videos in parallel)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first mask value of no class instead of counting a warning")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--check", action="store_true",
                   help="only validate the prepared split(s) in --out and print counts")
    return p


def check(args) -> int:
    return check_prepared(args.out, "vipseg", [args.split] if args.split else vipseg.SPLITS,
                          VIPSEG_CATEGORIES)


def prepare(args) -> int:
    if not args.vipseg:
        raise ConversionError("--vipseg is required (or use --check)")
    if args.workers < 1:
        raise ConversionError(f"--workers must be >= 1, got {args.workers}")
    summaries, notes = vipseg.convert(
        args.vipseg, args.out, splits=[args.split] if args.split else None, strict=args.strict,
        workers=args.workers, quiet=args.quiet)
    for line in notes:
        print(line)
    for s in summaries:
        print(format_summary(s))
    print(f"wrote {args.out}; validate it with: python datasets/{PROG} --check --out {args.out}")
    return 0


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    return run_cli(PROG, lambda: check(args) if args.check else prepare(args))


if __name__ == "__main__":
    sys.exit(main())
