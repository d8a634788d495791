#!/usr/bin/env python
"""`make quickstart`: the synthetic end-to-end job on the CPU.

1. generate synthetic_vps train (24 videos) and val (8 videos), 30 frames of 128x256 each;
2. train the tiny VPSNet++ f (configs/quick_schedules/tiny_vpsnet_pp_cpu.yaml) from scratch;
3. evaluate VPQ on synthetic_vps_val, and two trivial baselines: the same model with tracking
   disabled (a new id for every detection in every frame) and a stuff-only prediction;
4. run the video demo on a synthetic validation video turned into an mp4.
Every step's output goes to a log file; training also shows its progress (iteration, loss, ETA) on
the console. Prints the results next to the baselines, the model's per-class rows, and where every
output is, the plots of the model's VPQ report (VPQ against k, per class) included. Environment:
DETECTRON2_DATASETS (default datasets/), QUICKSTART_DIR (default quickstart_output/),
QUICKSTART_ITERS (default: the config's SOLVER.MAX_ITER).
"""
import glob
import json
import os
import re
import subprocess
import sys
import time
from typing import Callable, Optional

import vps_d2  # first: it also silences detectron2's import-time deprecation warnings

import cv2
from detectron2.config import get_cfg
from vps_d2.evaluation.plots import plot_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
DATA = os.environ.get("DETECTRON2_DATASETS", os.path.join(ROOT, "datasets"))
OUT = os.path.abspath(os.environ.get("QUICKSTART_DIR", os.path.join(ROOT, "quickstart_output")))
PY = sys.executable
# detectron2's CommonMetricPrinter line: " eta: 0:09:41  iter: 19  total_loss: 3.2  loss_cls: ..."
# (no ETA on the first lines).
METRICS = re.compile(r"(?:eta: (?P<eta>\S+)\s+)?iter: (?P<iter>\d+)\s.*?total_loss: (?P<loss>\S+)")


def training_progress(max_iter: int) -> Callable[[str], Optional[str]]:
    """A filter of training log lines: detectron2's periodic metric line becomes a short progress
    line for the console (``iter 20/1200  total_loss 3.2  eta 0:09:41``), any other line None."""

    def progress(line: str) -> Optional[str]:
        m = METRICS.search(line)
        if m is None:
            return None
        eta = f"  eta {m['eta']}" if m["eta"] else ""
        return f"   iter {int(m['iter']) + 1}/{max_iter}  total_loss {m['loss']}{eta}"

    return progress


def config_max_iter() -> int:
    """SOLVER.MAX_ITER of the quick start's config (the training length without QUICKSTART_ITERS)."""
    cfg = get_cfg()
    vps_d2.add_vps_config(cfg)
    cfg.merge_from_file(CONFIG)
    return cfg.SOLVER.MAX_ITER


def run(step: str, args, log_name: str, echo: Optional[Callable[[str], Optional[str]]] = None) -> float:
    """Run one step, its output to a log file; ``echo`` picks what of it to show on the console as
    it comes (e.g. training progress), and the last lines are shown on failure."""
    os.makedirs(OUT, exist_ok=True)
    log = os.path.join(OUT, log_name)
    print(f"== {step} (log: {log})", flush=True)
    start = time.time()
    env = dict(os.environ, DETECTRON2_DATASETS=DATA, PYTHONUNBUFFERED="1")
    with open(log, "w") as f, subprocess.Popen([PY, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                               stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            f.write(line)
            shown = echo(line) if echo else None
            if shown is not None:
                print(shown, flush=True)
    if proc.returncode != 0:
        with open(log) as f:
            sys.stderr.write("".join(f.readlines()[-20:]))
        sys.exit(f"quickstart: step '{step}' failed (exit {proc.returncode}); see {log}")
    took = time.time() - start
    print(f"   done in {took:.0f} s", flush=True)
    return took


def evaluate(name: str, weights: str, *opts) -> dict:
    out = os.path.join(OUT, f"eval_{name}")
    run(f"evaluate VPQ: {name}", ["train_net.py", "--config-file", CONFIG, "--eval-only", "MODEL.WEIGHTS", weights,
                                 "OUTPUT_DIR", out, *opts], f"eval_{name}.log")
    path = glob.glob(os.path.join(out, "inference", "*", "vpq_results.json"))[0]
    with open(path) as f:
        report = json.load(f)
    report["path"] = path
    return report


def ratio(a: float, b: float) -> str:
    """``a / b`` as ``1.23x``, or ``n/a`` when ``b`` is 0 (e.g. a baseline with no thing matched)."""
    return f"{a / b:.2f}x" if b > 0 else "n/a"


def _fmt(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.1f}"


def class_rows(report: dict) -> list:
    """Console rows of a VPQ report's classes: VPQ, PQ at each window k, IoU, and TP/FP/FN at the
    first k (image level); "-" where a class has no segment in prediction or ground truth."""
    ks = list(report["per_k"])
    rows = [f"{'class':16}{'':4}{'VPQ':>7}" + "".join(f"{'PQ@' + k:>7}" for k in ks)
            + f"{'IoU':>7}{'TP/FP/FN@' + ks[0]:>16}"]
    for c in report["per_class"]:
        first = c["per_k"][ks[0]]
        counts = "-" if first is None else f"{first['TP']}/{first['FP']}/{first['FN']}"
        pq = "".join(f"{_fmt(None if c['per_k'][k] is None else c['per_k'][k]['PQ']):>7}" for k in ks)
        rows.append(f"{c['name']:16}{'th' if c['isthing'] else 'st':4}{_fmt(c['VPQ']):>7}{pq}"
                    f"{_fmt(c['IoU']):>7}{counts:>16}")
    return rows


def write_video(frames_glob: str, path: str, fps: float = 17.0) -> int:
    files = sorted(glob.glob(frames_glob))
    first = cv2.imread(files[0])
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (first.shape[1], first.shape[0]))
    for f in files:
        writer.write(cv2.imread(f))
    writer.release()
    return len(files)


def main() -> None:
    start = time.time()
    synth = os.path.join(DATA, "synthetic_vps")
    for split, videos in (("train", 24), ("val", 8)):
        run(f"synthetic_vps_{split}: {videos} videos", ["datasets/prepare_synthetic_vps.py", "--root", synth, "--split", split,
            "--videos", str(videos), "--frames", "30", "--stride", "5", "--height", "128", "--width", "256", "--seed", "0"],
            f"prepare_{split}.log")
    train_dir = os.path.join(OUT, "train")
    iters = os.environ.get("QUICKSTART_ITERS")
    train_time = run("train the tiny VPSNet++ f on the CPU", ["train_net.py", "--config-file", CONFIG, "OUTPUT_DIR", train_dir,
                     *(["SOLVER.MAX_ITER", iters] if iters else [])], "train.log",
                     echo=training_progress(int(iters) if iters else config_max_iter()))
    weights = os.path.join(train_dir, "model_final.pth")
    results = {
        "VPSNet++ f (tiny)": evaluate("model", weights),
        "tracking disabled": evaluate("no_tracking", weights, "MODEL.TRACKER.ENABLED", "False"),
        "stuff only": evaluate("stuff_only", weights, "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "1.01"),
    }
    clip = os.path.join(OUT, "synthetic_val_video_0001.mp4")
    n = write_video(os.path.join(synth, "val", "img_all", "synthetic_000001_*_leftImg8bit.png"), clip)
    demo = os.path.join(OUT, "demo_0001.mp4")
    run("video demo", ["demo/video_demo.py", "--config-file", CONFIG, "--input", clip, "--output", demo,
                       "--save-panoptic", os.path.join(OUT, "demo_panoptic"), "--opts", "MODEL.WEIGHTS", weights], "demo.log")
    cap = cv2.VideoCapture(demo)
    demo_frames, demo_fps = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)
    cap.release()

    model = results["VPSNet++ f (tiny)"]
    plots = plot_report(model, OUT)

    print("\n== results on synthetic_vps_val (8 videos x 30 frames, every 5th annotated)")
    print(f"{'':22}{'VPQ':>8}{'VPQ_th':>8}{'VPQ_st':>8}{'STQ':>8}")
    for name, r in results.items():
        print(f"{name:22}{r['VPQ']:8.2f}{r['VPQ_th']:8.2f}{r['VPQ_st']:8.2f}{r['STQ']:8.2f}")
    # the quick-start bar (SPEC §9): VPQ >= 45, VPQ_th >= 40, VPQ_th >= 2x the tracking-disabled run's
    print(f"targets: VPQ {model['VPQ']:.2f} (>= 45), VPQ_th {model['VPQ_th']:.2f} (>= 40), VPQ_th model / "
          f"tracking disabled {ratio(model['VPQ_th'], results['tracking disabled']['VPQ_th'])} (>= 2x)")
    print("\n== VPSNet++ f (tiny) per class (VPQ, PQ and IoU in %)")
    print("\n".join(class_rows(model)))
    print("\n== outputs")
    print(f"trained weights:   {weights} (training {train_time / 60:.1f} min)")
    print(f"VPQ report:        {model['path']}")
    print(f"VPQ plots:         {', '.join(plots)}")
    print(f"demo video:        {demo} ({demo_frames} frames at {demo_fps:g} fps; input {n} frames)")
    print(f"demo panoptic:     {os.path.join(OUT, 'demo_panoptic')}/ (PNG + JSON per frame)")
    print(f"quick start total: {(time.time() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
