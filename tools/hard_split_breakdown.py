#!/usr/bin/env python
"""Image PQ of ablation runs on the hard split's degraded and clean annotated frames, apart.

Temporal fusion claims to repair a frame from its neighbours; on the hard split
(``synthetic_vps_hard``) about half of the annotated frames carry one degradation (motion blur,
noise burst, exposure flicker, transient occluder) and their neighbours do not. This re-evaluates
the final weights of ``benchmarks/ablation.py`` runs with the submission written
(``TEST.VPQ.WRITE_SUBMISSION``), splits the annotated frames by their ``effects`` in the split's
im_all_info JSON and scores each subset with the offline scorer (k = 0, i.e. image PQ):

    python tools/hard_split_breakdown.py --ablation ablation_output/tiny_hard --rows base fuse --seeds 0 1 2
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict

from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from vps_d2.data.datasets.cityscapes_vps import FRAME_ID_BASE  # noqa: E402
from vps_d2.utils.file_io import atomic_write_json  # noqa: E402

DATASET = "synthetic_vps_hard_test"


def frame_effects(all_info_json: str) -> dict:
    """(video, frame) -> the degradation of that frame ("" for a clean frame)."""
    with open(all_info_json) as f:
        info = json.load(f)
    return {divmod(im["id"], FRAME_ID_BASE): "".join(im.get("effects", [])) for im in info["images"]}


def image_key(image_id: str) -> tuple:
    """(video, frame) of an annotated image id ``VVVV_FFFF_synthetic_<video>_<frame>``."""
    *_, video, frame = image_id.split("_")
    return int(video), int(frame)


def write_subset(gt: dict, pred: dict, keep: set, out_dir: str) -> tuple:
    """Ground-truth and prediction JSONs restricted to the image ids in ``keep``."""
    os.makedirs(out_dir, exist_ok=True)
    gt_sub = dict(gt, images=[im for im in gt["images"] if im["id"] in keep],
                  annotations=[a for a in gt["annotations"] if a["image_id"] in keep])
    pred_sub = dict(pred, annotations=[a for a in pred["annotations"] if a["image_id"] in keep])
    paths = os.path.join(out_dir, "gt.json"), os.path.join(out_dir, "pred.json")
    for path, data in zip(paths, (gt_sub, pred_sub)):
        atomic_write_json(path, data)
    return paths


def evaluate_with_submission(args, row: str, seed: int) -> str:
    """Re-run the row's evaluation with the submission written (into ``<run>/breakdown``, so the
    run's own results stay); returns the submission folder."""
    run = os.path.join(args.ablation, row, f"seed{seed}")
    out = os.path.join(run, "breakdown")
    submission = os.path.join(out, "inference", DATASET)
    if not os.path.exists(os.path.join(submission, "pred.json")):
        cmd = [sys.executable, os.path.join(REPO, "train_net.py"), "--eval-only",
               "--config-file", os.path.join(run, "config.yaml"), "MODEL.WEIGHTS", os.path.join(run, "model_final.pth"),
               "OUTPUT_DIR", out, "TEST.VPQ.WRITE_SUBMISSION", "True", "DATASETS.TEST", f"('{DATASET}',)"]
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "eval.log"), "w") as log:
            subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, check=True)
    return submission


def score(gt_json: str, gt_dir: str, pred_json: str, pred_dir: str, out: str) -> float:
    subprocess.run([sys.executable, "-m", "vps_d2.evaluation", "--gt-json", gt_json, "--gt-dir", gt_dir,
                    "--pred-json", pred_json, "--pred-dir", pred_dir, "--windows", "0", "--workers", "1",
                    "--json-out", out, "--no-progress"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        return json.load(f)["PQ"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ablation", required=True, help="OUTPUT of benchmarks/ablation.py --split hard")
    parser.add_argument("--rows", nargs="+", default=["base", "align", "attend", "fuse"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--root", default=os.path.join(REPO, "datasets", "synthetic_vps_hard"))
    args = parser.parse_args(argv)
    gt_json = os.path.join(args.root, "panoptic_gt_test_city_vps.json")
    gt_dir = os.path.join(args.root, "test", "panoptic_video")
    effects = frame_effects(os.path.join(args.root, "im_all_info_test_city_vps.json"))
    with open(gt_json) as f:
        gt = json.load(f)
    groups = defaultdict(set)
    for im in gt["images"]:
        kind = effects[image_key(im["id"])]
        groups["degraded" if kind else "clean"].add(im["id"])
        if kind:
            groups[kind].add(im["id"])
    pq = defaultdict(lambda: defaultdict(list))
    for row in args.rows:
        for seed in tqdm(args.seeds, desc=row, unit="seed"):
            sub = evaluate_with_submission(args, row, seed)
            with open(os.path.join(sub, "pred.json")) as f:
                pred = json.load(f)
            for group, keep in sorted(groups.items()):
                folder = os.path.join(sub, "subsets", group)
                gt_sub, pred_sub = write_subset(gt, pred, keep, folder)
                pq[row][group].append(score(gt_sub, gt_dir, pred_sub, os.path.join(sub, "pan_pred"),
                                            os.path.join(folder, "pq.json")))
    names = ["clean", "degraded"] + sorted(g for g in groups if g not in ("clean", "degraded"))
    lines = ["| variant | " + " | ".join(f"{g} ({len(groups[g])})" for g in names) + " |",
             "|---|" + "---:|" * len(names)]
    for row in args.rows:
        cells = [f"{statistics.fmean(pq[row][g]):.1f} ± {statistics.stdev(pq[row][g]) if len(pq[row][g]) > 1 else 0:.1f}"
                 for g in names]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    table = "\n".join(lines)
    atomic_write_json(os.path.join(args.ablation, "breakdown.json"), {r: dict(v) for r, v in pq.items()})
    print("image PQ by frame kind (annotated test frames in brackets), mean ± std over seeds:")
    print(table)


if __name__ == "__main__":
    main()
