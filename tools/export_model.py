#!/usr/bin/env python
"""Export the per-frame network of a vps_d2 model with torch.export and/or to ONNX, then check the
export against eager on frames it never saw (the export traces random inputs).

    python tools/export_model.py --config-file configs/quick_schedules/tiny_vpsnet_pp_cpu.yaml \\
        --format onnx torch-export --output export/ [--input clip.mp4] MODEL.WEIGHTS model_final.pth

The graph holds backbone, FPN, fuse head and all heads with weights; the previous frame's features and
the initial flow are inputs (the flow is computed outside by MODEL.FLOW.NAME, so an OpenCV flow is
never frozen into the graph), and the number of detections is dynamic. The tracker and the panoptic
merge run in Python around it (vps_d2.export.runner; `demo/video_demo.py --exported FILE`).
The check runs eager and exported side by side through the online runner and prints the largest
output difference, the panoptic pixel agreement and whether ids agree; exit code 1 if they do not.
"""
import argparse
import itertools
import os
import sys

import vps_d2  # first: registers the model and the datasets

import cv2
import torch
from detectron2.data import DatasetCatalog
from tqdm import tqdm

from vps_d2.engine.predictor import VideoPanopticPredictor
from vps_d2.export import FrameNetwork
from vps_d2.export.export import FORMATS, compare_sessions, export_frame_network, write_metadata
from vps_d2.export.runner import ExportedVideoPredictor
from vps_d2.utils.cli import multi_choice_then_opts, tool_config
from vps_d2.utils.errors import UserError
from vps_d2.utils.file_io import atomic_write_json
from vps_d2.utils.video_io import open_frames

MIN_AGREEMENT = 0.999


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE", help="path to a config file")
    p.add_argument("--format", nargs="+", default=["onnx"], help=f"export format(s), of {' '.join(sorted(FORMATS))}")
    p.add_argument("--output", required=True, metavar="DIR", help="folder for model.onnx / model.pt2 and export.json")
    p.add_argument("--input", help="frames to check on (a video, a frame folder or a glob); "
                   "default: the first video of DATASETS.TEST[0]")
    p.add_argument("--frames", type=int, default=10, help="number of frames to check on")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    return p


def setup_cfg(args):
    # the exported graph runs in onnxruntime / torch on the CPU
    return tool_config(args.config_file, args.opts, device="cpu")


def check_frames(cfg, spec, count: int):
    """The BGR frames to check on: ``spec`` (as the demo's --input) or DATASETS.TEST[0]'s first video."""
    if spec:
        frames = [f for _, f in itertools.islice(open_frames(spec), count)]
    else:
        video = DatasetCatalog.get(cfg.DATASETS.TEST[0])[0]
        frames = [cv2.imread(path, cv2.IMREAD_COLOR) for path in video["file_names"][:count]]
    if not frames or any(f is None for f in frames):
        raise UserError(f"--input {spec or cfg.DATASETS.TEST[0]}: no readable frame to check the export on")
    return frames


def run(args) -> int:
    cfg = setup_cfg(args)
    frames = check_frames(cfg, args.input, args.frames)
    torch.manual_seed(cfg.SEED if cfg.SEED >= 0 else 0)  # random weights (no MODEL.WEIGHTS) are reproducible
    eager = VideoPanopticPredictor(cfg)
    size = eager.aug.get_transform(frames[0]).apply_image(frames[0]).shape[:2]
    net = FrameNetwork(eager.model, size)
    os.makedirs(args.output, exist_ok=True)
    write_metadata(net, cfg, args.output)
    ok, reports = True, {}
    for fmt in args.format:
        path = export_frame_network(net, fmt, args.output)
        bar = tqdm(frames, unit="frame", desc=f"check {fmt}")
        r = compare_sessions(eager, ExportedVideoPredictor(path), net, bar)
        r["file_mb"] = os.path.getsize(path) / 2**20
        reports[fmt] = r
        same_ids = not r["frames_with_other_segments"]
        ok &= r["pixel_agreement"] >= MIN_AGREEMENT and same_ids
        fps = {k: 1.0 / max(v, 1e-9) for k, v in r["seconds_per_frame"].items()}
        print(f"{fmt}: {path} ({r['file_mb']:.1f} MB), input {size[0]}x{size[1]}; on {r['frames']} frames not seen "
              f"at export: largest |exported - eager| output difference {r['max_abs_diff']:.2e}, panoptic pixel "
              f"agreement {100 * r['pixel_agreement']:.3f}%, segments and ids "
              f"{'identical' if same_ids else 'differ on frames ' + str(r['frames_with_other_segments'])}; "
              f"things per frame {r['things_per_frame']}; CPU fps (whole online step) eager {fps['eager']:.1f}, "
              f"exported {fps['exported']:.1f}")
    atomic_write_json(os.path.join(args.output, "verification.json"), reports)
    if not ok:
        print(f"export_model.py: the export does not agree with eager (pixel agreement < {100 * MIN_AGREEMENT}% "
              "or other ids); see verification.json", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    multi_choice_then_opts(args, "format", sorted(FORMATS))
    try:
        return run(args)
    except UserError as e:  # raised where input is checked; anything else is a bug: traceback
        print(f"export_model.py: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
