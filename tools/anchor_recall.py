#!/usr/bin/env python
"""Anchor recall of a config on a dataset: per thing class, the fraction of ground-truth boxes with
at least one anchor of IoU >= a threshold. A box that no anchor overlaps well is hard for the RPN to
propose, so this is the check to run when choosing MODEL.ANCHOR_GENERATOR for a dataset.

    python tools/anchor_recall.py --config-file configs/quick_schedules/tiny_vpsnet_pp_cpu.yaml \\
        [--dataset synthetic_vps_train] [--iou 0.5] [--suggest] [KEY VALUE ...]

Boxes are those of the training targets (``panoptic_targets``) of every annotated frame, resized by
the config's test-time resize (INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST); anchors are those the config's
RPN places on its FPN levels of the (padded) resized frame. ``--suggest`` also scores a small grid
of anchor sizes and aspect ratios (h / w, as detectron2's ASPECT_RATIOS) and prints the best.
"""
import argparse
import itertools
import math
import sys
from collections import defaultdict
from typing import Dict, List, NamedTuple, Sequence

import vps_d2  # registers the datasets

import numpy as np
import torch
from tabulate import tabulate
from tqdm import tqdm

from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data import transforms as T
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_anchor_generator, build_backbone
from detectron2.structures import Boxes, pairwise_iou
from vps_d2.config import merge_user_config
from vps_d2.data.dataset_mapper import VideoPanopticDatasetMapper, panoptic_targets, read_segments

# --suggest grid: size on the finest level (doubling per level), sizes per octave, ratio sets.
BASE_SIZES = (8, 12, 16, 24, 32)
OCTAVE_SCALES = ((1.0,), (1.0, 1.5))
RATIO_SETS = ((0.5, 1.0, 2.0), (0.5, 1.0, 2.0, 4.0), (0.25, 0.5, 1.0, 2.0, 4.0), (1.0, 2.0, 4.0))


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config-file", required=True, metavar="FILE", help="path to a config file")
    p.add_argument("--dataset", help="a registered video dataset (default: DATASETS.TRAIN[0])")
    p.add_argument("--iou", type=float, default=0.5, help="IoU an anchor needs to cover a box")
    p.add_argument("--suggest", action="store_true", help="also score a grid of sizes / ratios")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="config overrides: KEY VALUE ...")
    return p


def setup_cfg(args):
    cfg = get_cfg()
    vps_d2.add_vps_config(cfg)
    merge_user_config(cfg, args.config_file, args.opts)
    return cfg


def load_gt_boxes(cfg, dataset: str) -> Dict[tuple, Dict[str, torch.Tensor]]:
    """Thing boxes (XYXY, after the test-time resize) and classes of every annotated frame, grouped
    by the resized frame size ``(h, w)`` (the anchors depend on it)."""
    mapper = VideoPanopticDatasetMapper.from_config(cfg, is_train=False, dataset_name=dataset)
    resize = T.AugmentationList(mapper["augmentations"])
    groups = defaultdict(lambda: {"boxes": [], "classes": []})
    for video in tqdm(DatasetCatalog.get(dataset), desc=f"reading {dataset}", unit="video"):
        for path, segments in zip(video["pan_seg_file_names"], video["segments_infos"]):
            if path is None:
                continue
            ids = read_segments(path, segments)
            fields, _, _ = panoptic_targets(ids, segments, mapper["semantic_to_thing"],
                                            mapper["semantic_to_stuff"], mapper["ignore_label"])
            aug_input = T.AugInput(np.zeros((*ids.shape, 1), np.uint8), boxes=fields["boxes"])
            resize(aug_input)
            group = groups[aug_input.image.shape[:2]]
            group["boxes"].append(torch.as_tensor(aug_input.boxes, dtype=torch.float32))
            group["classes"].append(torch.as_tensor(fields["classes"]))
    return {size: {k: torch.cat(v) for k, v in g.items()} for size, g in groups.items()}


class FeatureLevels(NamedTuple):
    """The RPN's input levels and how the model pads its input: the backbone's, built once."""

    shapes: List[ShapeSpec]
    size_divisibility: int

    @classmethod
    def from_config(cls, cfg) -> "FeatureLevels":
        backbone = build_backbone(cfg)
        shapes = [backbone.output_shape()[f] for f in cfg.MODEL.RPN.IN_FEATURES]
        return cls(shapes, backbone.size_divisibility)


def image_anchors(generator, levels: FeatureLevels, image_size) -> Boxes:
    """Every anchor of a frame of ``image_size``, padded as the model's ImageList pads it."""
    d = max(levels.size_divisibility, 1)
    h, w = [math.ceil(x / d) * d for x in image_size]
    grids = [torch.empty(1, 0, math.ceil(h / s.stride), math.ceil(w / s.stride))
             for s in levels.shapes]
    return Boxes.cat(generator(grids))  # the generator only reads the grids' sizes


def best_anchor_iou(cfg, levels: FeatureLevels, gt: Dict, chunk: int = 1024):
    """(best IoU of every box with the config's anchors, its class), over all frame sizes."""
    generator = build_anchor_generator(cfg, levels.shapes)
    ious, classes = [], []
    for size, group in gt.items():
        anchors = image_anchors(generator, levels, size)
        for boxes in group["boxes"].split(chunk):
            ious.append(pairwise_iou(Boxes(boxes), anchors).max(dim=1).values)
        classes.append(group["classes"])
    return torch.cat(ious), torch.cat(classes)


def recall_rows(cfg, levels: FeatureLevels, gt: Dict, names: List[str], threshold: float):
    """Per thing class present: name, boxes, median w x h, recall; then the row of all boxes."""
    best_iou, classes = best_anchor_iou(cfg, levels, gt)
    boxes = torch.cat([g["boxes"] for g in gt.values()])
    wh = boxes[:, 2:] - boxes[:, :2]
    covered = (best_iou >= threshold).float()
    rows = []
    for c, name in enumerate(names):
        sel = classes == c
        if sel.any():
            w, h = wh[sel].median(dim=0).values.tolist()
            rows.append([name, int(sel.sum()), f"{w:.0f} x {h:.0f}", float(covered[sel].mean())])
    rows.append(["all", len(covered), "", float(covered.mean())])
    return rows


def anchor_options(base: int, scales: Sequence[float], ratios: Sequence[float], levels: int):
    """Config opts of one grid point: sizes ``base * 2**level * scale`` on each level."""
    sizes = [[round(base * 2 ** i * s) for s in scales] for i in range(levels)]
    return ["MODEL.ANCHOR_GENERATOR.SIZES", sizes,
            "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", [list(ratios)]]


def suggest(cfg, levels: FeatureLevels, gt: Dict, names: List[str], threshold: float, top: int = 5):
    """Score the grid; best first by worst class recall, then overall recall, then fewer anchors
    per place (the RPN head's outputs)."""
    rows = []
    grid = list(itertools.product(BASE_SIZES, OCTAVE_SCALES, RATIO_SETS))
    for base, scales, ratios in tqdm(grid, desc="anchor grid"):
        trial = cfg.clone()
        trial.merge_from_list(anchor_options(base, scales, ratios, len(levels.shapes)))
        recalls = [r[-1] for r in recall_rows(trial, levels, gt, names, threshold)]
        rows.append([trial.MODEL.ANCHOR_GENERATOR.SIZES, list(ratios), len(scales) * len(ratios),
                     min(recalls[:-1]), recalls[-1]])
    rows.sort(key=lambda r: (-r[3], -r[4], r[2]))
    return rows[:top]


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    cfg = setup_cfg(args)
    dataset = args.dataset or cfg.DATASETS.TRAIN[0]
    names = MetadataCatalog.get(dataset).thing_classes
    gt = load_gt_boxes(cfg, dataset)
    if not gt:
        print(f"anchor_recall.py: error: {dataset} has no annotated frame", file=sys.stderr)
        return 2
    levels = FeatureLevels.from_config(cfg)
    rows = recall_rows(cfg, levels, gt, names, args.iou)
    anchors = cfg.MODEL.ANCHOR_GENERATOR
    sizes = ", ".join(f"{h}x{w}" for h, w in gt)
    print(f"anchor recall (IoU >= {args.iou:g}) on {dataset}, frames of {sizes} (h x w) after the "
          f"test resize")
    print(f"SIZES {anchors.SIZES}  ASPECT_RATIOS (h/w) {anchors.ASPECT_RATIOS}")
    print(tabulate(rows, headers=["class", "boxes", "median w x h", "recall"], floatfmt=".3f",
                   tablefmt="pipe"))
    if args.suggest:
        best = suggest(cfg, levels, gt, names, args.iou)
        print(f"\nbest of the grid (IoU >= {args.iou:g}):")
        headers = ["SIZES", "ASPECT_RATIOS", "anchors/place", "worst class", "all"]
        print(tabulate(best, headers=headers, floatfmt=".3f", tablefmt="pipe"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
