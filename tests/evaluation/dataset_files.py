"""Write in-memory videos (``reference_vpq`` format) as a split of the unified on-disk format and as
a submission folder, for the I/O, CLI and evaluator tests."""

import json
import os

from vps_d2.data.panoptic_io import write_panoptic_png
from vps_d2.evaluation.submission_io import SubmissionWriter

from .synthetic_videos import ISTHING

# Dataset category ids differ from the contiguous classes, to check the conversions.
CATEGORIES = [
    {"id": 10 + 3 * c, "name": f"class{c}", "isthing": int(t), "color": [20 * c, 40, 60]}
    for c, t in enumerate(ISTHING)
]
STRIDE = 5


def image_id(video: int, j: int) -> str:
    """Annotated frame j (0-based) of video ``video``: raw frame f = 5(j+1)."""
    f = STRIDE * (j + 1)
    return f"{video:04d}_{f:04d}_city_{video:06d}_{f:06d}"


def write_gt_split(root: str, split: str, videos) -> dict:
    """Unified layout under ``root`` (see ``vps_d2/data/datasets/cityscapes_vps.py``)."""
    all_info, pan = {"images": []}, {"images": [], "annotations": [], "categories": CATEGORIES}
    pan_dir = os.path.join(root, split, "panoptic_video")
    os.makedirs(os.path.join(root, split, "img_all"), exist_ok=True)
    for v, video in enumerate(videos, start=1):
        H, W = video[0]["gt"].shape
        for f in range(1, STRIDE * len(video) + 1):
            all_info["images"].append(
                {
                    "id": v * 10000 + f,
                    "file_name": f"city_{v:06d}_{f:06d}_leftImg8bit.png",
                    "height": H,
                    "width": W,
                }
            )
        for j, fr in enumerate(video):
            iid = image_id(v, j)
            png = f"{iid}_final_mask.png"
            write_panoptic_png(os.path.join(pan_dir, png), fr["gt"])
            pan["images"].append(
                {"id": iid, "file_name": f"{iid}_newImg8bit.png", "height": H, "width": W}
            )
            segs = [
                dict(s, category_id=CATEGORIES[s["category_id"]]["id"]) for s in fr["gt_segments"]
            ]
            pan["annotations"].append({"image_id": iid, "file_name": png, "segments_info": segs})
    paths = {
        "gt_json": os.path.join(root, f"panoptic_gt_{split}_city_vps.json"),
        "gt_dir": pan_dir,
        "all_info_json": os.path.join(root, f"im_all_info_{split}_city_vps.json"),
    }
    for key, obj in (("gt_json", pan), ("all_info_json", all_info)):
        with open(paths[key], "w") as fh:
            json.dump(obj, fh)
    return paths


def write_submission(out_dir: str, videos) -> dict:
    writer = SubmissionWriter(out_dir)
    for v, video in enumerate(videos, start=1):
        for j, fr in enumerate(video):
            segs = [(s["id"], CATEGORIES[s["category_id"]]["id"]) for s in fr["pred_segments"]]
            writer.add(image_id(v, j), fr["pred"], segs)
    return {"pred_json": writer.close(), "pred_dir": os.path.join(out_dir, "pan_pred")}
