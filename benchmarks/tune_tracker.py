#!/usr/bin/env python
"""Choose the tracker's cue weights on a validation split (issue 22; SPEC §9: tune on val only).

The network runs once per frame (``VideoSession.infer``: detections, embeddings, panoptic merge);
every point of the grid then re-tracks the cached videos (``VideoSession.assign``) and is scored by
the project's VPQ evaluator. Prints the best points and the configured one, and writes all of them
to ``--json`` with the best as ``train_net.py`` opts:

    python benchmarks/tune_tracker.py --config-file configs/quick_schedules/tiny_vpsnet_pp_cpu.yaml \\
        --weights model_final.pth --dataset synthetic_vps_hard_val --json tracker_grid.json [KEY VALUE ...]
"""
import argparse
import itertools
import os
import sys

import torch
from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from detectron2.config import get_cfg  # noqa: E402
from detectron2.data import DatasetCatalog  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

import vps_d2  # noqa: E402,F401  (registers the model and the datasets)
from vps_d2.config import add_vps_config, merge_user_config  # noqa: E402
from vps_d2.data.dataset_mapper import VideoPanopticDatasetMapper  # noqa: E402
from vps_d2.engine.checkpoint import VPSCheckpointer  # noqa: E402
from vps_d2.evaluation.vpq_evaluator import VPQEvaluator  # noqa: E402
from vps_d2.modeling.meta_arch.video_inference import VideoSession, build_tracker  # noqa: E402
from vps_d2.utils.errors import UserError  # noqa: E402
from vps_d2.utils.file_io import atomic_write_json  # noqa: E402

GRID = {
    "APPEARANCE_WEIGHT": (0.0, 0.5, 1.0, 2.0, 4.0),
    "MASK_IOU_WEIGHT": (0.0, 1.0, 2.0, 4.0),
    "SCORE_WEIGHT": (0.0, 1.0),
    "MEMORY_FRAMES": (5, 8),
}


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--weights", required=True)
    p.add_argument("--dataset", required=True, help="a validation split, e.g. synthetic_vps_hard_val")
    p.add_argument("--json", required=True)
    p.add_argument("--report-on", default="", metavar="DATASET",
                   help="also score the configured and the chosen weights on this split (e.g. the test "
                        "split: reported, never used to choose)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="replace a grid axis (repeatable), e.g. MASK_IOU_WEIGHT=1,2 (keys: " + ", ".join(GRID) + ")")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="config overrides: KEY VALUE ...")
    return p


def cache_videos(model, cfg, dataset: str):
    """(mapper output, per-frame ``infer`` results) of every video of ``dataset``."""
    mapper = VideoPanopticDatasetMapper(cfg, is_train=False, dataset_name=dataset)
    cached = []
    for video in tqdm(DatasetCatalog.get(dataset), desc=f"network on {dataset}", unit="video"):
        inp = mapper(video)
        session = VideoSession(model, model.tracker, model.inference)
        with torch.no_grad():
            cached.append((inp, [session.infer(frame) for frame in inp["frames"]]))
    return cached


def score(model, cfg, cached, dataset: str, point: dict) -> dict:
    tcfg = cfg.clone()
    tcfg.defrost()
    for key, value in point.items():
        tcfg.MODEL.TRACKER[key] = value
    evaluator = VPQEvaluator(dataset)
    evaluator.reset()
    for inp, frames in cached:
        session = VideoSession(model, build_tracker(tcfg, tcfg.MODEL.VPS.TRACK_ON), model.inference)
        evaluator.process([inp], [{"video_id": inp["video_id"], "frames": [session.assign(*f) for f in frames]}])
    result = evaluator.evaluate()
    return {key: result["vpq"][key] for key in ("VPQ", "VPQ_th", "VPQ_st")}


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    grid = dict(GRID)
    for item in args.grid:
        key, _, values = item.partition("=")
        if key not in GRID or not values:
            print(f"tune_tracker.py: error: --grid {item}: expected KEY=V1,V2 with KEY one of {list(GRID)}",
                  file=sys.stderr)
            return 2
        grid[key] = tuple(type(GRID[key][0])(float(v)) for v in values.split(","))
    try:
        cfg = get_cfg()
        add_vps_config(cfg)
        merge_user_config(cfg, args.config_file, args.opts)
        cfg.freeze()
        model = build_model(cfg).eval()
        VPSCheckpointer(model).load(args.weights)
        cached = cache_videos(model, cfg, args.dataset)
    except UserError as e:
        print(f"tune_tracker.py: error: {e}", file=sys.stderr)
        return 2
    if not cfg.MODEL.VPS.TRACK_ON:  # no track head: no appearance cue
        grid["APPEARANCE_WEIGHT"] = (0.0,)
    configured = {key: cfg.MODEL.TRACKER[key] for key in grid}
    points = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    results = [dict(point, **score(model, cfg, cached, args.dataset, point))
               for point in tqdm(points, desc="tracker grid", unit="point")]
    results.sort(key=lambda r: -r["VPQ"])
    baseline = dict(configured, **score(model, cfg, cached, args.dataset, configured))
    best = results[0]
    opts = [x for key in grid for x in (f"MODEL.TRACKER.{key}", str(best[key]))]
    report = {"dataset": args.dataset, "weights": args.weights, "configured": baseline, "best": best,
              "best_opts": opts, "grid": results}
    if args.report_on:
        held_out = cache_videos(model, cfg, args.report_on)
        report["report_on"] = {"dataset": args.report_on,
                               "configured": score(model, cfg, held_out, args.report_on, configured),
                               "best": score(model, cfg, held_out, args.report_on, {k: best[k] for k in grid})}
    atomic_write_json(args.json, report)
    print(f"{'VPQ':>7} " + " ".join(f"{k:>18}" for k in grid))
    for r in results[:5]:
        print(f"{r['VPQ']:7.2f} " + " ".join(f"{r[k]:>18}" for k in grid))
    print(f"configured: VPQ {baseline['VPQ']:.2f} with " + ", ".join(f"{k} {v}" for k, v in configured.items()))
    print("best opts: " + " ".join(opts))
    if args.report_on:
        held = report["report_on"]
        print(f"on {args.report_on}: configured VPQ {held['configured']['VPQ']:.2f}, chosen {held['best']['VPQ']:.2f}")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
