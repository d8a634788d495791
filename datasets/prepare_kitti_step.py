#!/usr/bin/env python
"""Prepare KITTI-STEP in the unified video-panoptic format (19 classes; see datasets/README.md).

Examples:
    python datasets/prepare_kitti_step.py --step ~/data/kitti-step --images ~/data/kitti/tracking \\
        --out datasets/kitti_step
    python datasets/prepare_kitti_step.py --check --out datasets/kitti_step

Run it again after an interruption: finished frames are skipped.
"""
import argparse
import sys

from vps_d2.data.categories import KITTI_STEP_CATEGORIES
from vps_d2.data.converters import kitti_step
from vps_d2.data.converters.check import check_prepared
from vps_d2.data.converters.common import LINK_MODES, ConversionError, format_summary, run_cli

PROG = "prepare_kitti_step.py"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--step", help="KITTI-STEP folder (panoptic_maps/{train,val}/<seq>/*.png)")
    p.add_argument("--images", help="KITTI tracking frames: {train,val}/<seq>/ (deeplab2's layout) "
                   "or training/image_02/<seq>/")
    p.add_argument("--out", required=True, help="output dataset folder, e.g. "
                   "$DETECTRON2_DATASETS/kitti_step")
    p.add_argument("--split", choices=list(kitti_step.SPLITS), default=None,
                   help="split to prepare or check (default: both that exist)")
    p.add_argument("--link", choices=LINK_MODES, default="copy",
                   help="how frames reach img_all/: byte copy (default), hard link or symlink")
    p.add_argument("--workers", type=int, default=1, help="processes (sequences in parallel)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first unknown class id instead of counting a warning")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--check", action="store_true",
                   help="only validate the prepared split(s) in --out and print counts")
    return p


def check(args) -> int:
    return check_prepared(args.out, "kitti_step", [args.split] if args.split else kitti_step.SPLITS,
                          KITTI_STEP_CATEGORIES)


def prepare(args) -> int:
    for flag, value in (("--step", args.step), ("--images", args.images)):
        if not value:
            raise ConversionError(f"{flag} is required (or use --check)")
    if args.workers < 1:
        raise ConversionError(f"--workers must be >= 1, got {args.workers}")
    summaries, notes = kitti_step.convert(
        args.step, args.images, args.out, splits=[args.split] if args.split else None,
        link=args.link, strict=args.strict, workers=args.workers, quiet=args.quiet)
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
