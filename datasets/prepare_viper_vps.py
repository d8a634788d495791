#!/usr/bin/env python
"""Prepare VIPER in the unified video-panoptic format, 23 VPS classes (see datasets/README.md).

Examples:
    python datasets/prepare_viper_vps.py --viper ~/data/viper --out datasets/viper_vps \\
        --condition day
    python datasets/prepare_viper_vps.py --check --out datasets/viper_vps

Run it again after an interruption: finished frames are skipped.
"""
import argparse
import sys

from vps_d2.data.categories import VIPER_VPS_CATEGORIES
from vps_d2.data.converters import viper
from vps_d2.data.converters.check import check_prepared
from vps_d2.data.converters.common import (
    LINK_MODES,
    ConversionError,
    format_summary,
    run_cli,
)

PROG = "prepare_viper_vps.py"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--viper", help="raw VIPER folder (train/ and val/ with img/, cls/, inst/)")
    p.add_argument("--out", required=True, help="output dataset folder, e.g. "
                   "$DETECTRON2_DATASETS/viper_vps")
    p.add_argument("--split", choices=list(viper.SPLITS), default=None,
                   help="split to prepare or check (default: both that exist)")
    p.add_argument("--condition", choices=list(viper.CONDITIONS), default=None,
                   help="keep only the sequences recorded in this condition (e.g. day, as the "
                   "original VPSNet); needs the per-sequence conditions file")
    p.add_argument("--conditions", metavar="CSV", default=None,
                   help="sequence -> condition CSV (default: <viper>/<split>/weather.csv or "
                   "conditions.csv)")
    p.add_argument("--flow", action="store_true",
                   help="also copy the ground-truth flow (<split>/flow/<seq>/*.npz) to "
                   "<out>/<split>/flow/")
    p.add_argument("--crowd", choices=["void", "segment"], default="void",
                   help="thing pixels without an instance id: void (default), or one iscrowd "
                   "segment per class and frame")
    p.add_argument("--link", choices=LINK_MODES, default="copy",
                   help="how frames reach img_all/: byte copy (default), hard link or symlink")
    p.add_argument("--workers", type=int, default=1, help="processes (sequences in parallel)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first unknown class id or class disagreement instead of "
                   "counting a warning")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--check", action="store_true",
                   help="only validate the prepared split(s) in --out and print counts")
    return p


def check(args) -> int:
    return check_prepared(args.out, "viper_vps", [args.split] if args.split else viper.SPLITS,
                          VIPER_VPS_CATEGORIES)


def prepare(args) -> int:
    if not args.viper:
        raise ConversionError("--viper is required (or use --check)")
    if args.workers < 1:
        raise ConversionError(f"--workers must be >= 1, got {args.workers}")
    summaries, notes = viper.convert(
        args.viper, args.out, splits=[args.split] if args.split else None,
        condition=args.condition, conditions_csv=args.conditions, flow=args.flow,
        crowd=args.crowd == "segment", link=args.link, strict=args.strict, workers=args.workers,
        quiet=args.quiet)
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
