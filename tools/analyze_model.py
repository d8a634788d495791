#!/usr/bin/env python
"""Per-frame FLOPs, parameters, activations and structure of a vps_d2 model as it runs online: one
frame, with the previous frame's cached features and the initial flow between the two as inputs
(detectron2's tools/analyze_model.py, for the video model).

    python tools/analyze_model.py --config-file configs/vpsnet_pp.yaml --tasks flop parameter [KEY VALUE ...]

Frames: --input (a video, a frame folder or a glob; its first two frames), else the first video of
DATASETS.TEST[0] when it is prepared, else two random frames of INPUT.MIN_SIZE_TEST x MAX_SIZE_TEST.
Weights: MODEL.WEIGHTS when it is a local file, else random, with --detections detections per frame
(the ROI heads' FLOPs depend on their number, printed). The flow warp, roi_align and max pooling are counted by vps_d2's own fvcore
handles; an initial flow computed outside torch (OpenCV DIS) is not counted.
"""
import argparse
import itertools
import os
import sys

import vps_d2  # first: registers the model and the datasets

import cv2
import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from fvcore.nn import flop_count_table, parameter_count, parameter_count_table

from vps_d2.engine import VPSCheckpointer
from vps_d2.engine.analysis import activation_analysis, custom_op_flops, fix_detections, flop_analysis, frame_tensor
from vps_d2.engine.analysis import online_frame_inputs
from vps_d2.modeling.meta_arch.vpsnet import TRACEABLE_FLOWS
from vps_d2.utils.cli import multi_choice_then_opts, tool_config
from vps_d2.utils.errors import UserError
from vps_d2.utils.video_io import open_frames

TASKS = ("flop", "parameter", "activation", "structure")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE", help="path to a config file")
    p.add_argument("--tasks", nargs="+", default=["flop", "parameter"], help=f"what to print, of {' '.join(TASKS)}")
    p.add_argument("--input", help="a video, a frame folder or a glob: its first two frames are analysed")
    p.add_argument("--detections", type=int, help="random weights only: keep this many detections per frame "
                   "(default TEST.DETECTIONS_PER_IMAGE; 0: as many as the random model gives)")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    return p


def setup_cfg(args):
    return tool_config(args.config_file, args.opts, device="cpu")


def two_frames(cfg, spec):
    """(previous, current) BGR frames and where they come from."""
    if spec:
        frames = [f for _, f in itertools.islice(open_frames(spec), 2)]
        if len(frames) < 2:
            raise UserError(f"--input {spec}: expected at least two frames")
        return frames, spec
    name = cfg.DATASETS.TEST[0]
    if name not in DatasetCatalog.list():
        raise UserError(f"DATASETS.TEST: '{name}' is not a registered dataset (see datasets/README.md)")
    try:
        files = DatasetCatalog.get(name)[0]["file_names"][:2]
        return [cv2.imread(f, cv2.IMREAD_COLOR) for f in files], f"{name} (first video)"
    except UserError:  # not prepared: random frames of the test size, the second shifted by 4 px
        rng = np.random.default_rng(0)
        first = rng.integers(0, 256, (cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, 3), dtype=np.uint8)
        return [first, np.roll(first, 4, axis=1)], f"random frames ({name} is not prepared)"


def run(args) -> None:
    cfg = setup_cfg(args)
    (previous, current), source = two_frames(cfg, args.input)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    weights = cfg.MODEL.WEIGHTS
    if weights and os.path.isfile(weights):
        VPSCheckpointer(model).load(weights)
    else:
        weights = f"random ({'MODEL.WEIGHTS ' + weights + ' is not a local file' if weights else 'no MODEL.WEIGHTS'})"
        count = cfg.TEST.DETECTIONS_PER_IMAGE if args.detections is None else args.detections
        if count > 0:
            fix_detections(model, count)
            weights += f" with zeroed box regressors and a score threshold of 0 (--detections {count})"
    net, inputs = online_frame_inputs(model, frame_tensor(cfg, previous), frame_tensor(cfg, current))
    flow = cfg.MODEL.FLOW.NAME if model.fuse_head is not None else "none (no fuse head)"
    if model.initial_flow is not None and not isinstance(model.initial_flow, TRACEABLE_FLOWS):
        flow += " (computed outside torch, an input of the frame's network: not counted)"
    with torch.no_grad():
        detections = net(*inputs)[1].shape[0]
    h, w = net.image_size
    print(f"{args.config_file}: one online frame, the previous frame's state cached; input {h}x{w} (padded "
          f"{net.padded[0]}x{net.padded[1]}) from {source}; weights {weights}; {detections} detections; initial flow {flow}")
    params = parameter_count(model)[""]
    flops = flop_analysis(net, inputs) if "flop" in args.tasks else None
    activations = activation_analysis(net, inputs) if "activation" in args.tasks else None
    if flops is not None:
        total = flops.total()
        custom = custom_op_flops(flops)
        print(flop_count_table(flops, max_depth=2, activations=activations))
        shares = ", ".join(f"{k} {v / 1e9:.4f} ({100 * v / total:.2f}%)" for k, v in custom.items())
        print(f"per-frame GFLOPs: {total / 1e9:.3f}; parameters: {params / 1e6:.2f} M; counted by vps_d2's handles: "
              f"{shares}; together {100 * sum(custom.values()) / total:.2f}%")
    if "parameter" in args.tasks:
        print(parameter_count_table(model, max_depth=2))
        print(f"parameters: {params / 1e6:.2f} M")
    if activations is not None:
        print(f"per-frame activations: {activations.total() / 1e6:.2f} M")
    if "structure" in args.tasks:
        print(model)


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    multi_choice_then_opts(args, "tasks", TASKS)
    try:
        run(args)
    except UserError as e:  # raised where input is checked; anything else is a bug: traceback
        print(f"analyze_model.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
