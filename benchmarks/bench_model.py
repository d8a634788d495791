#!/usr/bin/env python
"""Model speed against detectron2's Panoptic FPN R50 (issue 8, SPEC §7), side by side in one run.

For VPSNet++ f, FuseTrack (``configs/Cityscapes-VPS/``, R50) and detectron2's Panoptic FPN R50
(its model zoo config, Cityscapes' 8 thing and 11 + 1 stuff classes), each in a fresh worker
process, in fp32 and with AMP:

* online inference time per frame at ``--height`` × ``--width`` (default 1024×2048): the video
  models run frame by frame as in evaluation (cached previous frame, initial flow, fuse, track,
  panoptic merge), Panoptic FPN one image at a time; frames after ``--warmup`` are timed;
* one training step (forward, backward, SGD step) at the configs' 800×1600 crop (scaled with
  ``--height``/``--width``; the configs' random 0.8–1.25× resize first): an image pair
  for the video models (DIS flow computed by the loader, as in training, outside the step) and one
  image for Panoptic FPN;
* peak memory: ``torch.cuda.max_memory_allocated`` on a GPU, the worker's peak RSS on the CPU.

The frames are one synthetic video at the test size (``vps_d2.data.synthetic``). The weights are
random (nothing is downloaded), with the box regressors (RPN and box head) zeroed so that boxes are
the anchors and proposals themselves (random deltas make degenerate boxes, which are dropped); with
a score threshold of 0 every model then keeps exactly ``--detections`` detections per frame, which
makes the per-detection work (masks, tracking, merge) equal and deterministic. The script prints a table and the ratios to Panoptic FPN.

    python benchmarks/bench_model.py                                   # GPU, fp32 + AMP
    python benchmarks/bench_model.py --device cpu --height 512 --width 1024 --frames 3
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

MODELS = {
    "vpsnet_pp_f": ("VPSNet++ f", "configs/Cityscapes-VPS/vpsnet_pp_f_R_50_FPN_144ep_cityscapes_vps.yaml"),
    "fusetrack": ("FuseTrack", "configs/Cityscapes-VPS/vpsnet_fusetrack_R_50_FPN_144ep_cityscapes_vps.yaml"),
    "panoptic_fpn": ("Panoptic FPN R50", "COCO-PanopticSegmentation/panoptic_fpn_R_50_1x.yaml"),
}
BASELINE = "panoptic_fpn"
DATASET = "bench_synthetic_vps"
NUM_STUFF = 11  # Cityscapes-VPS: semantic ids 0-10 are stuff, 11-18 things


# ---------------------------------------------------------------- worker: one model, one task


def build_config(model: str, device: str, detections: int, height: int, width: int):
    from detectron2 import model_zoo
    from detectron2.config import get_cfg

    from vps_d2.config import add_vps_config

    cfg = get_cfg()
    if model == BASELINE:
        cfg.merge_from_file(model_zoo.get_config_file(MODELS[model][1]))
        cfg.MODEL.ROI_HEADS.NUM_CLASSES = 8
        cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = NUM_STUFF + 1  # stuff + one "thing" class
        cfg.MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH = 0.0
        cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 1024, 2048
    else:
        add_vps_config(cfg)
        cfg.merge_from_file(os.path.join(REPO, MODELS[model][1]))
        cfg.DATASETS.TRAIN = cfg.DATASETS.TEST = (DATASET,)
        # The configs' training augmentation relative to the frame height (1024 -> 0.8-1.25x, crop
        # 800x1600), so smaller --height/--width runs (CPU) scale the training step with them.
        cfg.INPUT.MIN_SIZE_TRAIN = (int(0.8 * height), int(1.25 * height))
        cfg.INPUT.CROP.SIZE = (height * 800 // 1024, width * 1600 // 2048)
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = device
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0
    cfg.TEST.DETECTIONS_PER_IMAGE = detections
    return cfg


def build_benchmark_model(cfg):
    """The model with random weights and zeroed box regressors (see the module docstring)."""
    import torch
    from detectron2.modeling import build_model

    model = build_model(cfg)
    with torch.no_grad():
        for layer in (model.proposal_generator.rpn_head.anchor_deltas, model.roi_heads.box_predictor.bbox_pred):
            layer.weight.zero_()
            layer.bias.zero_()
    return model


def register_video(root: str) -> dict:
    from detectron2.data import DatasetCatalog

    from vps_d2.data.categories import CITYSCAPES_VPS_CATEGORIES, category_metadata
    from vps_d2.data.datasets.cityscapes_vps import register_cityscapes_vps

    meta = dict(category_metadata(CITYSCAPES_VPS_CATEGORIES), annotation_stride=1)
    register_cityscapes_vps(DATASET, root, "val", meta, prepare_hint="(benchmark data)")
    return DatasetCatalog.get(DATASET)[0]


def synchronize(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def autocast(device: str, amp: bool):
    import torch

    dtype = torch.float16 if device == "cuda" else torch.bfloat16
    return torch.autocast(device, dtype=dtype, enabled=amp)


def time_inference(model, model_name: str, frames, args, amp: bool) -> list:
    """Seconds per frame for the frames after the warm-up ones."""
    import torch

    from vps_d2.modeling.meta_arch.video_inference import VideoSession

    session = VideoSession(model, model.tracker, model.inference) if model_name != BASELINE else None
    times = []
    with torch.no_grad(), autocast(args.device, amp):
        for i, frame in enumerate(frames):
            synchronize(args.device)
            start = time.perf_counter()
            if session is not None:
                session.step(frame)
            else:
                model([frame])
            synchronize(args.device)
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
    return times


def training_batch(model_name: str, video: dict, cfg) -> list:
    """One training input as the data loader gives it: an augmented pair (with its DIS flow) for
    the video models; the pair's target frame for Panoptic FPN, its ``sem_seg`` in that model's
    form (stuff classes 1-11, things 0)."""
    import numpy as np

    from vps_d2.data import VideoPanopticDatasetMapper

    np.random.seed(0)
    vps_cfg = build_config("vpsnet_pp_f", cfg.MODEL.DEVICE, 1, video["height"], video["width"]) if model_name == BASELINE else cfg
    pair = VideoPanopticDatasetMapper(vps_cfg, is_train=True)(video)
    if model_name != BASELINE:
        return [pair]
    frame = pair["frames"][0]
    return [{"image": frame["image"], "instances": frame["instances"], "sem_seg": panoptic_fpn_sem_seg(frame["sem_seg"])}]


def panoptic_fpn_sem_seg(sem):
    """Cityscapes-VPS semantic ids (stuff 0-10, things 11-18, 255 ignored) -> Panoptic FPN's
    semantic targets: stuff 1-11, every thing 0, 255 kept."""
    import torch

    return torch.where(sem == 255, sem, torch.where(sem < NUM_STUFF, sem + 1, torch.zeros_like(sem)))


def time_training(model, batch, args, amp: bool) -> list:
    import torch
    from detectron2.utils.events import EventStorage

    model.train()
    # Learning rate 0: the step does all its work, and the random weights stay where they are,
    # so no step diverges (from random weights even a small step can make the next one NaN).
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    scaler = torch.amp.GradScaler(args.device, enabled=amp and args.device == "cuda")
    times = []
    with EventStorage(0):
        for i in range(args.warmup + args.steps):
            synchronize(args.device)
            start = time.perf_counter()
            with autocast(args.device, amp):
                losses = model(batch)
            loss = sum(losses.values())
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            synchronize(args.device)
            if i >= args.warmup:
                times.append(time.perf_counter() - start)
    return times


def peak_memory_gib(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB


def frames_image(path: str):
    import cv2
    import numpy as np
    import torch

    return torch.as_tensor(np.ascontiguousarray(cv2.imread(path).transpose(2, 0, 1)))


def worker(args) -> None:
    """Measure one (model, task, precision); print ``RESULT {json}`` as the last line."""
    import torch

    import vps_d2.modeling  # noqa: F401  (registers the vps_d2 architectures)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    video = register_video(args.data)
    cfg = build_config(args.model, args.device, args.detections, video["height"], video["width"])
    model = build_benchmark_model(cfg)
    amp = args.precision == "amp"
    if args.task == "inference":
        model.eval()
        frames = [{"image": frames_image(path), "height": video["height"], "width": video["width"]}
                  for path in video["file_names"][: args.warmup + args.frames]]
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = time_inference(model, args.model, frames, args, amp)
    else:
        batch = training_batch(args.model, video, cfg)
        if args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times = time_training(model, batch, args, amp)
    print("RESULT " + json.dumps({"times": times, "peak_gib": peak_memory_gib(args.device)}))


# ---------------------------------------------------------------- driver


def generate_video(root: str, args) -> None:
    from vps_d2.data.synthetic import write_synthetic_split

    write_synthetic_split(root, "val", videos=1, frames=max(args.warmup + args.frames, 2), stride=1,
                          height=args.height, width=args.width, seed=0)


def run_worker(args, model: str, task: str, precision: str, data: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--model", model, "--task", task,
           "--precision", precision, "--data", data, "--device", args.device, "--warmup", str(args.warmup),
           "--frames", str(args.frames), "--steps", str(args.steps), "--detections", str(args.detections),
           "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        sys.exit(f"bench_model: {MODELS[model][0]} {task} {precision} failed (exit {proc.returncode}): {tail}")
    return json.loads(lines[-1][len("RESULT "):])


def device_name(device: str, threads: int) -> str:
    import platform

    import torch

    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch threads {threads or torch.get_num_threads()}"


def report(results: dict, args) -> None:
    print(f"\ndevice: {device_name(args.device, args.threads)}; inference at {args.height}x{args.width}, "
          f"{args.frames} timed frames; training step at the configs' crop, {args.steps} timed steps; "
          f"{args.detections} detections per frame; median (mean) in ms")
    memory = "peak GPU memory GiB" if args.device == "cuda" else "worker peak RSS GiB"
    print(f"| model | task | precision | median ms | mean ms | {memory} | × Panoptic FPN |")
    print("|---|---|---|---:|---:|---:|---:|")
    for (model, task, precision), res in results.items():
        median = statistics.median(res["times"]) * 1e3
        base = results.get((BASELINE, task, precision))
        ratio = median / (statistics.median(base["times"]) * 1e3) if base else float("nan")
        print(f"| {MODELS[model][0]} | {task} | {precision} | {median:.1f} | {statistics.fmean(res['times']) * 1e3:.1f} "
              f"| {res['peak_gib']:.2f} | {ratio:.2f}× |")
    print("targets (SPEC §7): VPSNet++ f inference ≤ 1.3× Panoptic FPN; training step ≤ 2.5×")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    parser.add_argument("--tasks", nargs="+", choices=("inference", "train"), default=["inference", "train"])
    parser.add_argument("--precisions", nargs="+", choices=("fp32", "amp"), help="default: fp32 amp (cuda), fp32 (cpu)")
    parser.add_argument("--height", type=int, default=1024)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--frames", type=int, default=20, help="timed frames (inference)")
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed frames / steps first")
    parser.add_argument("--detections", type=int, default=50, help="detections kept per frame")
    parser.add_argument("--threads", type=int, default=0, help="torch threads in the workers (0: torch's default)")
    parser.add_argument("--json", help="also write the measurements here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--precision", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA GPU is visible (use --device cpu)")
    if min(args.frames, args.steps, args.detections) < 1 or args.warmup < 1 or min(args.height, args.width) < 64:
        parser.error("--frames, --steps, --detections and --warmup must be >= 1; --height/--width >= 64")
    args.precisions = args.precisions or (["fp32", "amp"] if args.device == "cuda" else ["fp32"])
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    from tqdm import tqdm

    jobs = [(m, t, p) for t in args.tasks for p in args.precisions for m in args.models]
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_model_") as data:
        generate_video(data, args)
        for job in tqdm(jobs, desc="model benchmarks", unit="run"):
            results[job] = run_worker(args, *job, data)
    report(results, args)
    if args.json:
        from vps_d2.utils.file_io import atomic_write_json

        atomic_write_json(args.json, {"device": device_name(args.device, args.threads), "args": vars(args),
                                      "results": [{"model": m, "task": t, "precision": p, **r}
                                                  for (m, t, p), r in results.items()]})


if __name__ == "__main__":
    main()
