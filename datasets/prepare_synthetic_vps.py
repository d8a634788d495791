#!/usr/bin/env python
"""Generate the synthetic video panoptic dataset in the Cityscapes-VPS layout (see datasets/README.md).

A split already in --root is reused when it is complete and was written by the same generator
version with the same arguments; otherwise it is regenerated (one line says why).

Example:
    python datasets/prepare_synthetic_vps.py --root datasets/synthetic_vps --split train --videos 20
    python datasets/prepare_synthetic_vps.py --root datasets/synthetic_vps_hard --split train --videos 24 \
        --difficulty hard
"""
import argparse
import sys

from vps_d2.data.datasets.cityscapes_vps import split_paths
from vps_d2.data.synthetic import (
    format_statistics, generator_stamp, split_state, split_statistics, write_synthetic_split,
)
from vps_d2.utils.errors import UserError


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="dataset folder, e.g. $DETECTRON2_DATASETS/synthetic_vps")
    p.add_argument("--split", required=True, choices=["train", "val", "test"])
    p.add_argument("--videos", type=int, default=10, help="number of videos")
    p.add_argument("--frames", type=int, default=30, help="frames per video")
    p.add_argument("--stride", type=int, default=5, help="annotate every STRIDE-th frame (lambda)")
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--difficulty", choices=["clean", "hard"], default="clean",
                   help="hard: the clean scenes plus degraded frames, look-alike pairs, hidden objects "
                        "and thin poles (see datasets/README.md)")
    p.add_argument("--flow", action="store_true",
                   help="also write every frame's ground-truth backward flow to the previous frame "
                        "(<split>/flow/*_flow.npy, float32 HxWx2 pixels, NaN where not visible)")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    kwargs = dict(videos=args.videos, frames=args.frames, stride=args.stride, height=args.height,
                  width=args.width, seed=args.seed, difficulty=args.difficulty, flow=args.flow)
    name = "synthetic_vps" if args.difficulty == "clean" else f"synthetic_vps_{args.difficulty}"
    state, reason = split_state(args.root, args.split, generator_stamp(args.split, **kwargs))
    if state == "current":
        print(f"reusing {name} {args.split} in {args.root} ({reason})")
        paths = split_paths(args.root, args.split)
        stats = split_statistics(paths["panoptic_json"], args.videos, args.videos * args.frames,
                                 paths["all_info_json"])
        print(format_statistics(stats))
        return 0
    if state == "stale":
        print(f"regenerating {name} {args.split} in {args.root}: {reason}")
    try:
        stats = write_synthetic_split(args.root, args.split, **kwargs)
    except UserError as e:
        print(f"prepare_synthetic_vps.py: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # e.g. the disk filled up while writing: the split stays marked unfinished
        reason = f"{e.strerror}: {e.filename}" if e.filename else e
        print(f"prepare_synthetic_vps.py: error: --root {args.root}: cannot write the split there "
              f"({reason}), expected a writable folder with free space", file=sys.stderr)
        return 2
    print(f"wrote {name} {args.split} to {args.root}")
    print(format_statistics(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
