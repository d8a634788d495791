#!/usr/bin/env python
"""Known-answer diagnostics of the temporal half (issue 22): warp, fuse and every tracking cue.

Scenario videos are generated on the fly from ``--seed`` (never the splits' own videos; see
``vps_d2/diagnostics/scenarios.py``), so the ground truth is exact: flow, clean renderings of
degraded frames, identities. With ``--root`` a prepared split (``prepare_synthetic_vps.py --flow``)
takes their place: its own videos for warp, fuse and tracking (``tracking_oracle.<dataset>_<split>``),
its images, flow and degradations read from disk (``vps_d2/diagnostics/split_videos.py``).
Prints a table and writes every number to ``--json``:

* ``warp``: the previous annotated frame's labels warped by the chained ground-truth flow (a check
  of the warp op and its conventions, must be >= 0.97); label accuracy at the 1/4 map with the
  ground-truth, DIS, zero and refined flows; end-point errors at gap 1 (test) and 5 (annotation);
* ``fuse`` (a model with a fuse head): image PQ on degraded / clean frames with zero, DIS and
  ground-truth initial flow (and of ``--unfused-weights``: the same variant without fusion, e.g.
  Track for FuseTrack, trained from the same Base stage), the cosine of a degraded frame's map to its
  clean rendering's, unfused and fused, and the Attend gate on clean vs degraded frames;
* ``tracking_oracle.<scenario>.<cue>``: AQ and id switches with ground-truth detections.

    python benchmarks/diagnose_temporal.py --config-file configs/quick_schedules/tiny_vpsnet_pp_cpu.yaml \\
        --weights output/model_final.pth --json diag.json [--unfused-weights track.pth] [KEY VALUE ...]
    python benchmarks/diagnose_temporal.py ... --root $DETECTRON2_DATASETS/synthetic_vps_hard --split test
"""
import argparse
import os
import sys

import torch
from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from detectron2.config import get_cfg  # noqa: E402
from detectron2.data import MetadataCatalog  # noqa: E402
from detectron2.modeling import build_model  # noqa: E402

import vps_d2  # noqa: E402,F401  (registers the model and the datasets)
from vps_d2.config import add_vps_config, merge_user_config  # noqa: E402
from vps_d2.diagnostics import temporal  # noqa: E402
from vps_d2.diagnostics.scenarios import TRACKING_SCENARIOS, make_scenario  # noqa: E402
from vps_d2.diagnostics.split_videos import load_split_videos  # noqa: E402
from vps_d2.engine.checkpoint import VPSCheckpointer  # noqa: E402
from vps_d2.utils.errors import UserError  # noqa: E402
from vps_d2.utils.file_io import atomic_write_json  # noqa: E402


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--weights", default="", help="model weights (default: MODEL.WEIGHTS, else initialisation)")
    p.add_argument("--unfused-weights", default="",
                   help="the same variant without a fuse head (e.g. Track for FuseTrack): its PQ on the same frames")
    p.add_argument("--json", required=True, help="where to write the report")
    p.add_argument("--root", default="", help="a prepared synthetic split's dataset folder instead of the "
                   "generated scenarios (written with --flow), e.g. $DETECTRON2_DATASETS/synthetic_vps_hard")
    p.add_argument("--split", default="test", choices=["train", "val", "test"], help="the split of --root (default test)")
    p.add_argument("--videos", type=int, default=None,
                   help="hard-scenario videos of 30 frames (default 4), or the first N videos of --root (default all)")
    p.add_argument("--tracking-videos", type=int, default=4, help="videos per tracking scenario (default 4)")
    p.add_argument("--seed", type=int, default=100, help="first scenario seed (default 100)")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="config overrides: KEY VALUE ...")
    return p


def load_model(cfg, weights: str):
    model = build_model(cfg).eval()
    if weights:
        VPSCheckpointer(model).load(weights)
    return model


def print_report(report: dict) -> None:
    w = report["warp"]
    print(f"warp: GT-flow label accuracy (gap 5, full resolution) {w['gt_flow_label_accuracy']:.4f}")
    print("      label accuracy at 1/4, gap 5: " + "  ".join(f"{k} {v:.4f}" for k, v in w["label_accuracy_quarter"].items()))
    for gap, sources in w["epe"].items():
        print(f"      EPE (cells of the 1/4 map) {gap}: " + "  ".join(
            f"{src} {d['stuff']:.3f}/{d['things']:.3f}" for src, d in sources.items()) + "  (stuff/things)")
    if "fuse" in report:
        f = report["fuse"]
        print("fuse: PQ degraded/clean: " + "  ".join(f"{k} {v['degraded']:.2f}/{v['clean']:.2f}" for k, v in f["PQ"].items()))
        if "gate" in f:
            print(f"      Attend gate mean: clean {f['gate']['clean']:.3f}  degraded {f['gate']['degraded']:.3f}")
        if "cosine_to_clean" in f:
            c = f["cosine_to_clean"]
            print(f"      cosine of a degraded frame's map to its clean rendering: unfused {c['unfused']:.4f}  fused {c['fused']:.4f}")
    print(f"{'tracking oracle':<16}" + "".join(f"{c:>20}" for c in temporal.CUES))
    for scenario, cues in report["tracking_oracle"].items():
        cells = [f"{cues[c]['AQ']:.3f} ({cues[c]['id_switches']} sw)" if c in cues else "-" for c in temporal.CUES]
        print(f"{scenario:<16}" + "".join(f"{x:>20}" for x in cells))
    for check in report["known_answers"]:
        print(f"  [{'holds' if check['holds'] else 'FAILS'}] {check['check']}")


def main(argv=None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    if (args.videos is not None and args.videos < 1) or args.tracking_videos < 1:
        parser.error("--videos and --tracking-videos must be >= 1")
    try:
        hard = load_split_videos(args.root, args.split, args.videos) if args.root else None
        cfg = get_cfg()
        add_vps_config(cfg)
        merge_user_config(cfg, args.config_file, args.opts)
        cfg.MODEL.DEVICE = "cpu" if not torch.cuda.is_available() else cfg.MODEL.DEVICE
        cfg.freeze()
        model = load_model(cfg, args.weights or cfg.MODEL.WEIGHTS)
        unfused = None
        if args.unfused_weights:
            unfused_cfg = cfg.clone()
            unfused_cfg.defrost()
            unfused_cfg.MODEL.VPS.FUSE_ON = False
            unfused = load_model(unfused_cfg, args.unfused_weights)
    except UserError as e:
        print(f"diagnose_temporal.py: error: {e}", file=sys.stderr)
        return 2
    meta = MetadataCatalog.get("synthetic_vps_train")
    to_contiguous = dict(meta.stuff_dataset_id_to_contiguous_id)
    report = {"config": args.config_file, "weights": args.weights or cfg.MODEL.WEIGHTS or "initialisation"}
    if args.root:
        tracking = {f"{os.path.basename(os.path.normpath(args.root))}_{args.split}": hard}
        report.update(root=args.root, split=args.split, videos=len(hard))
    else:
        seeds = range(args.seed, args.seed + (4 if args.videos is None else args.videos))
        hard = [make_scenario("hard", s) for s in tqdm(seeds, desc="hard scenario videos", unit="video")]
        tracking = {name: [make_scenario(name, args.seed + i) for i in range(args.tracking_videos)]
                    for name in tqdm(TRACKING_SCENARIOS, desc="tracking scenarios", unit="scenario")}
        report.update(seed=args.seed, videos=len(hard), tracking_videos=args.tracking_videos)
    with torch.no_grad():
        print("warp diagnostics ...", flush=True)
        report["warp"] = temporal.warp_diagnostics(hard, model)
        if model.fuse_head is not None:
            print("fuse diagnostics ...", flush=True)
            report["fuse"] = temporal.fuse_diagnostics(hard, model, cfg, to_contiguous, unfused)
        print("tracking oracle ...", flush=True)
        embeddings = lambda: temporal.model_embeddings(model, cfg.MODEL.VPS.TRACK_ON)  # noqa: E731
        report["tracking_oracle"] = temporal.tracking_oracle(tracking, cfg, embeddings)
    report["known_answers"] = temporal.known_answers(report)
    atomic_write_json(args.json, report)
    print_report(report)
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
