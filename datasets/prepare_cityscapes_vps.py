#!/usr/bin/env python
"""Prepare Cityscapes-VPS in the unified video-panoptic format (see datasets/README.md).

Examples:
    python datasets/prepare_cityscapes_vps.py --release ~/data/cityscapes_vps_release \\
        --sequences ~/data/leftImg8bit_sequence --out datasets/cityscapes_vps
    python datasets/prepare_cityscapes_vps.py --check --out datasets/cityscapes_vps

Run it again after an interruption: finished frames and videos are skipped.
"""
import argparse
import sys

from vps_d2.data.categories import CITYSCAPES_VPS_CATEGORIES
from vps_d2.data.converters import cityscapes_vps
from vps_d2.data.converters.check import check_prepared
from vps_d2.data.converters.common import (
    LINK_MODES,
    ConversionError,
    format_summary,
    run_cli,
)

PROG = "prepare_cityscapes_vps.py"


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--release", help="the official Cityscapes-VPS release folder "
                   "(panoptic_im_<split>_city_vps.json, <split>/cls/, <split>/inst/)")
    p.add_argument("--sequences", help="Cityscapes leftImg8bit_sequence (or its val/ folder)")
    p.add_argument("--out", required=True, help="output dataset folder, e.g. "
                   "$DETECTRON2_DATASETS/cityscapes_vps")
    p.add_argument("--split", choices=list(cityscapes_vps.SPLITS) + ["all"], default="all",
                   help="split to prepare or check (default: every split the release lists)")
    p.add_argument("--crowd", choices=["void", "segment"], default="void",
                   help="thing pixels without an instance: void as released (default), or one "
                   "iscrowd segment per class and frame")
    p.add_argument("--link", choices=LINK_MODES, default="copy",
                   help="how frames reach img_all/: byte copy (default), hard link or symlink")
    p.add_argument("--workers", type=int, default=1, help="processes (videos in parallel)")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first unknown class colour instead of counting a warning")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--check", action="store_true",
                   help="only validate the prepared split(s) in --out and print counts")
    return p


def check(args) -> int:
    wanted = cityscapes_vps.SPLITS if args.split == "all" else [args.split]
    return check_prepared(args.out, "cityscapes_vps", wanted, CITYSCAPES_VPS_CATEGORIES,
                          has_labels=lambda split: split in cityscapes_vps.LABELLED_SPLITS)


def prepare(args) -> int:
    for flag in ("release", "sequences"):
        if not getattr(args, flag):
            raise ConversionError(f"--{flag} is required (or use --check)")
    if args.workers < 1:
        raise ConversionError(f"--workers must be >= 1, got {args.workers}")
    summaries = cityscapes_vps.convert(
        args.release, args.sequences, args.out,
        splits=None if args.split == "all" else [args.split], crowd=args.crowd == "segment",
        link=args.link, strict=args.strict, workers=args.workers, quiet=args.quiet)
    for s in summaries:
        print(format_summary(s))
    print(f"wrote {args.out}; validate it with: python datasets/{PROG} --check --out {args.out}")
    return 0


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    return run_cli(PROG, lambda: check(args) if args.check else prepare(args))


if __name__ == "__main__":
    sys.exit(main())
