"""KITTI-STEP -> unified format (issue 14; 19 Cityscapes classes, person and car tracked).

Input: the STEP panoptic maps and the KITTI tracking frames (``datasets/README.md``)::

    <step>/panoptic_maps/{train,val}/<seq>/<frame>.png   R = class (255 void), instance = G·256 + B
    <images>/{train,val}/<seq>/<frame>.png               deeplab2's layout, or KITTI's own:
    <images>/[training/]image_02/<seq>/<frame>.png       (then split by the sequence lists below)

The training sequences split into train (12) and val (9) as KITTI-STEP defines them. A thing pixel
of instance 0 is crowd (deeplab2's STEP evaluation ignores it in the association term): it becomes
its class's iscrowd segment in each frame. Stuff pixels form one segment per class.

Naming: video number = int(<seq>); frame f = 1..T is the position in the sequence (every frame
annotated, λ = 1)::

    img_all/kitti_<seq>_<frame>.png
    image id VVVV_FFFF_kitti_<seq>_<frame>
    panoptic_video/<image id>.png
"""
import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..categories import KITTI_STEP_CATEGORIES
from ..datasets.cityscapes_vps import FRAME_ID_BASE
from .common import VOID, ConversionError, SplitContext, read_label_image, require_dir, run_split

SPLITS = ("train", "val")
CITY = "kitti"
VAL_SEQUENCES = ("0002", "0006", "0007", "0008", "0010", "0013", "0014", "0016", "0018")
TRAIN_SEQUENCES = tuple(f"{i:04d}" for i in range(21) if f"{i:04d}" not in VAL_SEQUENCES)
UNKNOWN_CLASS = "class id outside 0..18 in the red channel (made void)"
_THING = np.zeros(256, bool)
_THING[[c["id"] for c in KITTI_STEP_CATEGORIES if c["isthing"]]] = True


def step_labels(inputs: Dict, ctx: SplitContext):
    """(cat_map, inst_map, issues) of one STEP panoptic PNG."""
    path = inputs["panoptic"]
    im = read_label_image(path)
    if im.mode != "RGB":
        raise ConversionError(f"{path}: expected an RGB STEP panoptic PNG, got mode {im.mode}")
    rgb = np.asarray(im)
    cat_map = rgb[..., 0].copy()
    issues = []
    unknown = (cat_map >= len(KITTI_STEP_CATEGORIES)) & (cat_map != VOID)
    if unknown.any():
        example = f"class {int(cat_map[unknown][0])} in {path}"
        issues.append((UNKNOWN_CLASS, int(unknown.sum()), example))
        cat_map[unknown] = VOID
    number = rgb[..., 1].astype(np.int64) * 256 + rgb[..., 2]
    inst_map = np.where(_THING[cat_map] & (number > 0), number, -1)
    return cat_map, inst_map, issues


def image_folder(images: str, split: str, seq: str) -> Optional[str]:
    """The folder of a sequence's frames, in deeplab2's or KITTI's own layout."""
    for d in (os.path.join(images, split, seq), os.path.join(images, "training", "image_02", seq),
              os.path.join(images, "image_02", seq), os.path.join(images, seq)):
        if os.path.isdir(d):
            return d
    return None


def plan_split(step: str, images: str, split: str) -> List[Dict]:
    """Video plans of one split; every input is checked before anything is written."""
    root = require_dir(os.path.join(step, "panoptic_maps", split),
                       f"the KITTI-STEP {split} panoptic maps (panoptic_maps/{split}/<seq>/)")
    sequences = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not sequences:
        raise ConversionError(f"{root} has no sequence folders")
    expected = VAL_SEQUENCES if split == "val" else TRAIN_SEQUENCES
    stray = [s for s in sequences if s not in expected]
    if stray:
        raise ConversionError(f"{root}: sequence '{stray[0]}' is not a KITTI-STEP {split} "
                              f"sequence, expected some of {', '.join(expected)}")
    plans = []
    for seq in sequences:
        labels = sorted(f for f in os.listdir(os.path.join(root, seq)) if f.endswith(".png"))
        if not labels:
            raise ConversionError(f"{os.path.join(root, seq)} has no <frame>.png panoptic maps")
        if len(labels) >= FRAME_ID_BASE:
            raise ConversionError(f"sequence {seq} has {len(labels)} frames; at most "
                                  f"{FRAME_ID_BASE - 1} fit the frame ids")
        folder = image_folder(images, split, seq)
        if folder is None:
            raise ConversionError(
                f"{images}: no frames of sequence {seq}, expected {split}/{seq}/ or "
                f"training/image_02/{seq}/")
        video = int(seq)
        plan = {"video": video, "frames": [], "annotated": []}
        for f, name in enumerate(labels, 1):
            src = os.path.join(folder, name)
            if not os.path.isfile(src):
                raise ConversionError(f"{src}: no such frame, expected the frame of "
                                      f"{os.path.join(root, seq, name)}")
            stem = f"{CITY}_{seq}_{os.path.splitext(name)[0]}"
            image_id = f"{video:04d}_{f:04d}_{stem}"
            plan["frames"].append({"f": f, "src": src, "name": stem + ".png", "extra": []})
            plan["annotated"].append({"f": f, "image_id": image_id,
                                      "image_file_name": image_id + ".png",
                                      "png_name": image_id + ".png",
                                      "inputs": {"panoptic": os.path.join(root, seq, name)}})
        plans.append(plan)
    return plans


def available_splits(step: str) -> List[str]:
    return [s for s in SPLITS if os.path.isdir(os.path.join(step, "panoptic_maps", s))]


def convert(step: str, images: str, out: str, splits: Optional[List[str]] = None,
            link: str = "copy", strict: bool = False, workers: int = 1,
            quiet: bool = False) -> Tuple[List[Dict], List[str]]:
    """Convert the given splits (default: those present); returns (summaries, notes)."""
    require_dir(step, "the KITTI-STEP folder (with panoptic_maps/)")
    require_dir(images, "the KITTI tracking frames (train|val/<seq>/ or training/image_02/<seq>/)")
    splits = splits or available_splits(step)
    if not splits:
        raise ConversionError(f"{step} has no panoptic_maps/train or panoptic_maps/val")
    plans = {split: plan_split(step, images, split) for split in splits}  # check everything first
    summaries = []
    for split in splits:
        ctx = SplitContext(
            dataset="kitti_step", out=out, split=split, categories=KITTI_STEP_CATEGORIES,
            label_fn=step_labels, fingerprint={"converter": "kitti_step"}, link=link, crowd=True,
            strict=strict, quiet=quiet,
        )
        summaries.append(run_split(ctx, plans[split], workers))
    return summaries, []
