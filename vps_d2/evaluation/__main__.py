"""Offline VPQ / PQ / STQ scorer of a submission folder (SPEC §1, §6; issue 14).

    python -m vps_d2.evaluation [--preset P] --gt-json G --gt-dir D --pred-json P --pred-dir Q \\
        [--windows 0 5 10 15] [--stride 5] [--workers N] [--json-out F] [--plot-dir DIR] \\
        [--exclude-categories 11] [--min-gt-area 1024] [--stq-convention paper|deeplab2]
    python -m vps_d2.evaluation --preset kitti-step --gt-dir D --pred-dir Q

``--preset`` (:mod:`.presets`: cityscapes-vps, viper, vipseg, kitti-step) sets the windows, the
stride, the exclusions and the STQ convention of that benchmark and reads its official files;
explicit options override it. Without it: the Cityscapes-VPS layout, windows 0 λ 2λ 3λ (0 4 9 14
at λ = 1), the paper's STQ. A malformed submission ends with one line naming the file and the id,
and exit code 1.
"""

import argparse
import json
import logging
import os
import sys

from ..utils.errors import UserError
from .presets import PRESETS, Preset
from .stq import STQ_CONVENTIONS
from .submission_io import EvaluationInputError


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m vps_d2.evaluation",
        description="Score a video panoptic submission (pred.json + pan_pred/): VPQ, PQ, STQ.",
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="a benchmark's settings and official file layout (default: cityscapes-vps layout "
        "with the options below)",
    )
    p.add_argument(
        "--gt-json",
        metavar="FILE",
        help="panoptic_gt_<split>_city_vps.json (VIPSeg: panoptic_gt_VIPSeg_<split>.json; "
        "KITTI-STEP: none)",
    )
    p.add_argument(
        "--gt-dir",
        required=True,
        metavar="DIR",
        help="folder of the ground-truth PNGs (VIPSeg: panomasksRGB/; KITTI-STEP: the folder of "
        "per-sequence folders)",
    )
    p.add_argument("--pred-json", metavar="FILE", help="the submission's pred.json")
    p.add_argument(
        "--pred-dir",
        required=True,
        metavar="DIR",
        help="the submission's pan_pred/ (KITTI-STEP: per-sequence folders)",
    )
    p.add_argument(
        "--windows",
        type=int,
        nargs="+",
        metavar="K",
        help="window sizes k in raw frames (default 0 λ 2λ 3λ; 0 4 9 14 when λ = 1)",
    )
    p.add_argument(
        "--stride", type=int, metavar="λ", help="annotation stride (default 5, or the preset's)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes scoring videos in parallel (default 0: one per CPU core, at most 8)",
    )
    p.add_argument(
        "--exclude-categories",
        type=int,
        nargs="*",
        metavar="ID",
        help="dataset category ids left out of every VPQ mean (VIPER: 11)",
    )
    p.add_argument(
        "--min-gt-area",
        type=int,
        metavar="PX",
        help="ignore ground-truth tubes smaller than this (VIPER: 1024)",
    )
    p.add_argument(
        "--stq-convention",
        choices=STQ_CONVENTIONS,
        help="SQ of STQ: 'paper' (mean IoU over classes) or 'deeplab2' (the official STEP and "
        "VIPSeg evaluators: labelled pixels predicted void are one more class of IoU 0); default: "
        "the preset's (deeplab2 for vipseg and kitti-step), else paper",
    )
    p.add_argument("--json-out", metavar="FILE", help="write the full report as JSON")
    p.add_argument("--plot-dir", metavar="DIR", help="write vpq_vs_k.png and vpq_per_class.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    from .report import format_report
    from .scoring import default_workers, score_submission

    try:
        preset = resolve(args)
        if preset.stride <= 0 or args.workers < 0:
            raise EvaluationInputError("--stride must be positive and --workers not negative")
        check_folders(args)
        report = score_submission(
            args.gt_json,
            args.gt_dir,
            args.pred_json,
            args.pred_dir,
            window_sizes=preset.window_sizes,
            stride=preset.stride,
            workers=args.workers or default_workers(),
            excluded_category_ids=preset.excluded_category_ids,
            min_gt_area=preset.min_gt_area,
            progress=not args.no_progress,
            layout=preset.layout,
            stq_convention=preset.stq_convention,
        )
        print(format_report(report))
        write_outputs(args, report)
    except UserError as e:  # raised where input is checked; anything else is a bug: traceback
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def resolve(args) -> Preset:
    """The settings to score with: the preset's (or the plain Cityscapes-VPS layout's), with the
    explicit options on top; checks that the layout's files are given."""
    if args.preset:
        base = PRESETS[args.preset]
        windows = args.windows or (base.window_sizes if args.stride is None else None)
    else:
        base = Preset("custom", 5, (), "paper", "cityscapes-vps")
        windows = args.windows
    preset = Preset(
        args.preset or "custom",
        base.stride if args.stride is None else args.stride,
        tuple(windows or ()),  # () = the stride's default windows
        args.stq_convention or base.stq_convention,
        base.layout,
        tuple(base.excluded_category_ids if args.exclude_categories is None
              else args.exclude_categories),
        base.min_gt_area if args.min_gt_area is None else args.min_gt_area,
    )
    if preset.layout != "kitti-step":
        for flag, value in (("--gt-json", args.gt_json), ("--pred-json", args.pred_json)):
            if not value:
                raise EvaluationInputError(f"{flag} is required (except with --preset kitti-step)")
    return preset


def check_folders(args) -> None:
    """Name a wrong --gt-dir / --pred-dir as such, rather than its first missing PNG."""
    for flag, folder, what in (
        ("--gt-dir", args.gt_dir, "ground-truth PNGs"),
        ("--pred-dir", args.pred_dir, "submission's PNGs"),
    ):
        if not os.path.isdir(folder):
            raise EvaluationInputError(
                f"{flag} {folder}: no such folder, expected the folder of the {what}"
            )


def write_outputs(args, report) -> None:
    """Write --json-out (to a temporary name, then renamed) and --plot-dir; an unwritable path is
    an :class:`EvaluationInputError` naming the flag."""
    for flag, path, write in (
        ("--json-out", args.json_out, write_json),
        ("--plot-dir", args.plot_dir, write_plots),
    ):
        if not path:
            continue
        try:
            write(report, path)
        except OSError as e:
            reason = f"{e.strerror}: {e.filename}" if e.filename else str(e)
            raise EvaluationInputError(
                f"{flag} {path}: cannot write it ({reason}), expected a writable location"
            ) from None


def write_json(report, path: str) -> None:
    from ..utils.file_io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(report, f, indent=1)


def write_plots(report, folder: str) -> None:
    from .plots import plot_report

    plot_report(report, folder)


if __name__ == "__main__":
    from .scoring import retain_freed_memory

    retain_freed_memory()  # this process is the scorer's: reuse freed frame buffers
    sys.exit(main())
