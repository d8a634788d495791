"""A dataset of one's own for the tests and datasets/README.md "Your own videos": a synthetic split
remapped to 3 classes of its own and written in a user's layout (not the built-in file names).

    python -m tests.data.three_class OUT [--split val] [--videos 2]

writes ``OUT/frames/clipVV_FFFFFF.png`` (every frame), ``OUT/labels/clipVV_FFFFFF.png`` (panoptic
PNGs of the annotated frames), ``OUT/frames.json``, ``OUT/labels.json`` and ``OUT/categories.json``.
"""
import argparse
import os
import shutil
import sys
import tempfile

import numpy as np

from vps_d2.data.categories import CITYSCAPES_VPS_CATEGORIES
from vps_d2.data.datasets.cityscapes_vps import FRAME_ID_BASE, split_paths
from vps_d2.data.panoptic_io import read_panoptic_png, write_panoptic_png
from vps_d2.data.synthetic import write_synthetic_split
from vps_d2.utils.file_io import atomic_write_json

CATEGORIES = [
    {"id": 1, "name": "ground", "isthing": 0, "color": [128, 64, 128]},
    {"id": 2, "name": "scenery", "isthing": 0, "color": [70, 130, 180]},
    {"id": 3, "name": "mover", "isthing": 1, "color": [220, 20, 60]},
]
GROUND = {"road", "sidewalk", "terrain"}
NEW_CATEGORY = {c["id"]: 3 if c["isthing"] else 1 if c["name"] in GROUND else 2 for c in CITYSCAPES_VPS_CATEGORIES}


def _segments(ids: np.ndarray, category_of: dict) -> list:
    out = []
    for seg_id in np.unique(ids).tolist():
        if seg_id == 0:
            continue
        ys, xs = np.nonzero(ids == seg_id)
        x0, y0 = int(xs.min()), int(ys.min())
        out.append({"id": seg_id, "category_id": category_of[seg_id], "iscrowd": 0, "area": int(len(xs)),
                    "bbox": [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1]})
    return out


def write_three_class(out: str, split: str = "val", videos: int = 2, frames: int = 10, height: int = 64,
                      width: int = 128, seed: int = 0) -> dict:
    """Write the dataset; returns the paths (``frames_json``, ``panoptic_json``, ``image_root``,
    ``gt_root``, ``categories``)."""
    import json

    src = tempfile.mkdtemp(prefix="vps_d2_three_class_")
    try:
        write_synthetic_split(src, split, videos=videos, frames=frames, stride=5, height=height,
                              width=width, seed=seed)
        paths = split_paths(src, split)
        info = json.load(open(paths["all_info_json"]))
        pan = json.load(open(paths["panoptic_json"]))
        for sub in ("frames", "labels"):
            os.makedirs(os.path.join(out, sub), exist_ok=True)
        name_of, images = {}, []
        for img in info["images"]:
            video, f = divmod(img["id"], FRAME_ID_BASE)
            name = f"clip{video:02d}_{f:06d}.png"
            shutil.copyfile(os.path.join(paths["image_root"], img["file_name"]), os.path.join(out, "frames", name))
            name_of[img["file_name"][: -len("_leftImg8bit.png")]] = name
            images.append(dict(id=img["id"], file_name=name, width=img["width"], height=img["height"]))
        anns, pan_images = [], []
        for img, ann in zip(pan["images"], pan["annotations"]):
            video, counter, stem = img["id"].split("_", 2)
            name = name_of[stem]
            image_id = f"{video}_{counter}_{name[:-4]}"
            old = read_panoptic_png(os.path.join(paths["panoptic_root"], ann["file_name"]))
            category = {s["id"]: NEW_CATEGORY[s["category_id"]] for s in ann["segments_info"]}
            new = np.zeros_like(old)
            for seg_id, cat in category.items():
                new[old == seg_id] = seg_id if cat == 3 else cat  # one segment per stuff class
            category_of = {**{i: c for i, c in category.items() if c == 3}, 1: 1, 2: 2}
            write_panoptic_png(os.path.join(out, "labels", name), new)
            pan_images.append(dict(id=image_id, file_name=name, width=img["width"], height=img["height"]))
            anns.append({"image_id": image_id, "file_name": name, "segments_info": _segments(new, category_of)})
    finally:
        shutil.rmtree(src, ignore_errors=True)
    result = {
        "frames_json": os.path.join(out, "frames.json"),
        "panoptic_json": os.path.join(out, "labels.json"),
        "image_root": os.path.join(out, "frames"),
        "gt_root": os.path.join(out, "labels"),
        "categories": os.path.join(out, "categories.json"),
    }
    atomic_write_json(result["frames_json"], {"images": images})
    atomic_write_json(result["panoptic_json"], {"images": pan_images, "annotations": anns, "categories": CATEGORIES})
    atomic_write_json(result["categories"], CATEGORIES)
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--split", default="val", choices=("train", "val", "test"))
    p.add_argument("--videos", type=int, default=2)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--height", type=int, default=64)
    p.add_argument("--width", type=int, default=128)
    args = p.parse_args(argv)
    paths = write_three_class(args.out, args.split, args.videos, args.frames, args.height, args.width)
    print(" ".join(f"{k}={v}" for k, v in paths.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
