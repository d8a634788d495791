#!/usr/bin/env python
"""Speed of a vps_d2 config: the training data loader, training iterations, and online inference
on a video stream with the time per stage (detectron2's tools/benchmark.py, for the video model).

    python tools/benchmark.py --config-file configs/quick_schedules/tiny_vpsnet_pp_cpu.yaml \\
        --task inference [--input clip.mp4] [--frames 30] [--warmup 3] [KEY VALUE ...]

--task data: batches/s of the training loader (DATALOADER.NUM_WORKERS workers). --task train:
training iterations/s on batches taken from the loader beforehand (the loader is not timed).
--task inference: frames/s of the online predictor (the demo's) on --input (a video, a frame folder
or a glob; default the first video of DATASETS.TEST[0]) and its time per stage: backbone (+FPN),
flow (initial flow), fuse, heads (RPN, ROI heads, semantic and panoptic logits), tracker, merge,
other (resize, post-processing, id maps). Warm-up iterations or frames are not counted.
"""
import argparse
import itertools
import sys
import time

import vps_d2  # first: registers the model and the datasets

import cv2
import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.utils.events import EventStorage
from tabulate import tabulate
from tqdm import tqdm

from vps_d2.engine import VPSTrainer
from vps_d2.engine.predictor import VideoPanopticPredictor
from vps_d2.modeling.meta_arch import video_inference, vpsnet
from vps_d2.utils.cli import tool_config
from vps_d2.utils.errors import UserError
from vps_d2.utils.file_io import atomic_write_json
from vps_d2.utils.stage_timer import StageTimer
from vps_d2.utils.video_io import open_frames

STAGES = ["backbone", "flow", "fuse", "heads", "tracker", "merge", "other"]


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE", help="path to a config file")
    p.add_argument("--task", choices=["data", "train", "inference"], required=True)
    p.add_argument("--input", help="--task inference: a video, a frame folder or a glob")
    p.add_argument("--frames", type=int, default=30, help="frames (inference) or iterations (data, train) timed")
    p.add_argument("--warmup", type=int, default=3, help="frames or iterations run first and not timed")
    p.add_argument("--json", metavar="FILE", help="also write the figures here")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    return p


def setup_cfg(args):
    return tool_config(args.config_file, args.opts)


def bench_data(cfg, args) -> dict:
    loader = iter(VPSTrainer.build_train_loader(cfg))
    for _ in range(args.warmup):
        next(loader)
    start = time.perf_counter()
    for _ in tqdm(range(args.frames), desc="data", unit="batch"):
        next(loader)
    seconds = time.perf_counter() - start
    return {"batches_per_s": args.frames / seconds, "pairs_per_s": args.frames * cfg.SOLVER.IMS_PER_BATCH / seconds}


def bench_train(cfg, args) -> dict:
    batches = list(itertools.islice(VPSTrainer.build_train_loader(cfg), 4))  # the loader is not timed
    model = VPSTrainer.build_model(cfg)
    model.train()
    optimizer = VPSTrainer.build_optimizer(cfg, model)
    times = []
    with EventStorage():
        for i in tqdm(range(args.warmup + args.frames), desc="train", unit="it"):
            start = time.perf_counter()
            losses = model(batches[i % len(batches)])
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
            if cfg.MODEL.DEVICE.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    seconds = float(np.mean(times[args.warmup:]))
    return {"iterations_per_s": 1.0 / seconds, "seconds_per_iteration": seconds}


def stream(cfg, args):
    if args.input:
        return (f for _, f in open_frames(args.input)), args.input
    video = DatasetCatalog.get(cfg.DATASETS.TEST[0])[0]
    return (cv2.imread(p, cv2.IMREAD_COLOR) for p in video["file_names"]), f"{cfg.DATASETS.TEST[0]} (first video)"


def bench_inference(cfg, args) -> dict:
    predictor = VideoPanopticPredictor(cfg)
    model = predictor.model
    timer = StageTimer(cuda=cfg.MODEL.DEVICE.startswith("cuda"))
    timer.wrap(model.backbone, "forward", "backbone")
    for name, stage in (("initial_flow", "flow"), ("fuse_head", "fuse")):
        if getattr(model, name) is not None:
            timer.wrap(getattr(model, name), "forward", stage)
    for head in (model.proposal_generator, model.roi_heads, model.sem_seg_head):
        timer.wrap(head, "forward", "heads")
    timer.wrap(vpsnet, "panoptic_logits", "heads")
    timer.wrap(model.tracker, "update", "tracker")
    timer.wrap(video_inference, "merge_panoptic", "merge")
    frames, source = stream(cfg, args)
    per_frame = []
    try:
        for frame in tqdm(itertools.islice(frames, args.warmup + args.frames), total=args.warmup + args.frames,
                          desc="inference", unit="frame"):
            with timer.frame() as seconds:
                predictor(frame)
            per_frame.append(seconds)
    finally:
        timer.close()
    timed = per_frame[args.warmup:]
    if not timed:
        raise UserError(f"--input {source}: fewer than --warmup + 1 = {args.warmup + 1} frames")
    ms = {s: 1e3 * float(np.mean([f.get(s, 0.0) for f in timed])) for s in STAGES[:-1] + ["total"]}
    ms["other"] = ms["total"] - sum(ms[s] for s in STAGES[:-1])
    height, width = frame.shape[:2]
    return {"source": source, "frames": len(timed), "frame_size": [height, width], "fps": 1e3 / ms["total"], "ms": ms}


def run(args) -> str:
    cfg = setup_cfg(args)
    torch.manual_seed(0)
    result = {"data": bench_data, "train": bench_train, "inference": bench_inference}[args.task](cfg, args)
    if args.json:
        atomic_write_json(args.json, result)
    if args.task == "data":
        return f"data loader: {result['batches_per_s']:.2f} batches/s ({result['pairs_per_s']:.2f} pairs/s)"
    if args.task == "train":
        return f"training: {result['iterations_per_s']:.3f} iterations/s ({result['seconds_per_iteration']:.3f} s/it)"
    ms = result["ms"]
    rows = [(s, f"{ms[s]:.1f}", f"{100 * ms[s] / ms['total']:.1f}%") for s in STAGES] + [("total", f"{ms['total']:.1f}", "")]
    h, w = result["frame_size"]
    return (f"online inference on {result['source']} ({w}x{h} frames, {result['frames']} timed after {args.warmup} "
            f"warm-up): {result['fps']:.2f} fps\n" + tabulate(rows, headers=["stage", "ms/frame", "share"], tablefmt="pipe"))


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    try:
        print(run(args))
    except UserError as e:  # raised where input is checked; anything else is a bug: traceback
        print(f"benchmark.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
