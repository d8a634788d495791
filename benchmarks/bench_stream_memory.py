#!/usr/bin/env python
"""Memory of the online predictor over a long stream (issue 24): RSS (and, on CUDA, allocated
memory) every N frames, the drift after a warm-up, a CSV and a plot.

    python benchmarks/bench_stream_memory.py --frames 10000 --every 100 --out benchmarks/results/stream_memory

The stream is one uninterrupted ``VideoPanopticPredictor`` session (as a camera feed is): synthetic
street frames rendered on the fly (``vps_d2.data.synthetic_scene``), a new scene every
``--scene-frames`` frames (a cut). The model is the tiny config with random weights (or
``--weights``) and ``--score-thresh 0`` by default, so that every frame has the most detections
(``TEST.DETECTIONS_PER_IMAGE``) and the tracker its most tracks: the worst case for memory.
Drift = (highest RSS after frame ``--warmup`` - RSS at ``--warmup``) / RSS at ``--warmup``.
"""
import argparse
import csv
import os
import sys
import time
from typing import Dict, Iterator, List

import vps_d2  # first: it also silences detectron2's import-time deprecation warnings

import numpy as np
import torch
from tqdm import tqdm

from detectron2.config import get_cfg
from vps_d2.config import merge_user_config
from vps_d2.data.synthetic import build_video
from vps_d2.data.synthetic_scene import render_frame
from vps_d2.engine.predictor import VideoPanopticPredictor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = os.path.join(REPO, "configs", "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
MIB = 2 ** 20


def rss_bytes() -> int:
    """Resident set size of this process (Linux ``/proc/self/statm``)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def synthetic_stream(frames: int, height: int, width: int, scene_frames: int, seed: int = 0) -> Iterator[np.ndarray]:
    """``frames`` BGR frames, a new synthetic scene every ``scene_frames``."""
    for start in range(0, frames, scene_frames):
        n = min(scene_frames, frames - start)
        scene, rng, _ = build_video(seed, "test", start // scene_frames + 1, height, width, n, 5)
        for t in range(n):
            yield np.ascontiguousarray(render_frame(scene, t, rng)[0][:, :, ::-1])


def build_predictor(args) -> VideoPanopticPredictor:
    cfg = get_cfg()
    vps_d2.add_vps_config(cfg)
    opts = ["MODEL.DEVICE", args.device, "MODEL.WEIGHTS", args.weights or "",
            "INPUT.MIN_SIZE_TEST", args.height, "INPUT.MAX_SIZE_TEST", max(args.width, args.height)]
    if args.score_thresh is not None:
        opts += ["MODEL.ROI_HEADS.SCORE_THRESH_TEST", args.score_thresh]
    merge_user_config(cfg, args.config_file, [str(o) for o in opts] + args.opts)
    torch.manual_seed(0)
    return VideoPanopticPredictor(cfg)


def measure(args) -> List[Dict]:
    """Run the stream; one row per ``--every`` frames (and at frame 1)."""
    predictor = build_predictor(args)
    cuda = args.device.startswith("cuda")
    rows, start = [], time.time()
    stream = synthetic_stream(args.frames, args.height, args.width, args.scene_frames)
    for i, frame in enumerate(tqdm(stream, total=args.frames, unit="frame", desc="stream", disable=args.quiet), 1):
        segments = predictor(frame)["panoptic_seg"][1]
        if i == 1 or i % args.every == 0:
            rows.append({
                "frame": i,
                "rss_mib": rss_bytes() / MIB,
                "cuda_allocated_mib": torch.cuda.memory_allocated() / MIB if cuda else "",
                "segments": len(segments),
                "seconds": time.time() - start,
            })
    return rows


def drift(rows: List[Dict], warmup: int, key: str = "rss_mib") -> float:
    """(highest value after ``warmup`` - value at ``warmup``) / value at ``warmup``."""
    base = next(r[key] for r in rows if r["frame"] >= warmup)
    return (max(r[key] for r in rows if r["frame"] >= warmup) - base) / base


def at(rows: List[Dict], frame: int, key: str = "rss_mib") -> float:
    """The value of the last row at or before ``frame``."""
    return [r[key] for r in rows if r["frame"] <= frame][-1]


def write_outputs(rows: List[Dict], out: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "memory.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    frames = [r["frame"] for r in rows]
    ax.plot(frames, [r["rss_mib"] for r in rows], label="RSS")
    if rows[0]["cuda_allocated_mib"] != "":
        ax.plot(frames, [r["cuda_allocated_mib"] for r in rows], label="CUDA allocated")
    ax.set_xlabel("frame")
    ax.set_ylabel("MiB")
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(out, "memory.png"), dpi=110)
    plt.close(fig)


def summary(rows: List[Dict], warmup: int) -> str:
    marks = [m for m in (100, 1000, 5000, 10000) if m <= rows[-1]["frame"]]
    keys = ["rss_mib"] + (["cuda_allocated_mib"] if rows[0]["cuda_allocated_mib"] != "" else [])
    lines = ["| frame | " + " | ".join(marks_name(k) for k in keys) + " |", "|---:|" + "---:|" * len(keys)]
    lines += [f"| {m:,} | " + " | ".join(f"{at(rows, m, k):.1f}" for k in keys) + " |" for m in marks]
    lines.append(", ".join(f"{marks_name(k)} drift after frame {warmup}: {100 * drift(rows, warmup, k):+.2f} %"
                           for k in keys) + f"; {rows[-1]['frame'] / rows[-1]['seconds']:.1f} frames/s")
    return "\n".join(lines)


def marks_name(key: str) -> str:
    return {"rss_mib": "RSS (MiB)", "cuda_allocated_mib": "CUDA allocated (MiB)"}[key]


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", default=TINY, metavar="FILE")
    p.add_argument("--weights", default="", metavar="FILE", help="MODEL.WEIGHTS (default: random weights)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--frames", type=int, default=10000)
    p.add_argument("--every", type=int, default=100, help="sample memory every N frames")
    p.add_argument("--warmup", type=int, default=100, help="drift is measured from this frame on")
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--scene-frames", type=int, default=200, help="frames per synthetic scene")
    p.add_argument("--score-thresh", type=float, default=0.0, help="MODEL.ROI_HEADS.SCORE_THRESH_TEST")
    p.add_argument("--max-drift", type=float, default=None, metavar="PERCENT",
                   help="exit 1 if the RSS drift exceeds this")
    p.add_argument("--out", metavar="DIR", help="write memory.csv and memory.png here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--opts", default=[], nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    return p


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    rows = measure(args)
    if args.out:
        write_outputs(rows, args.out, f"{args.frames} frames at {args.height}x{args.width} on {args.device}, "
                      f"score threshold {args.score_thresh:g}")
    print(summary(rows, args.warmup))
    if args.max_drift is not None and 100 * drift(rows, args.warmup) > args.max_drift:
        print(f"RSS drift above {args.max_drift} %", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
