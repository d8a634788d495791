"""Synthetic video panoptic dataset in the Cityscapes-VPS layout (SPEC §3; loader in
``datasets/cityscapes_vps.py``).

``write_synthetic_split`` renders videos with :mod:`synthetic_scene` and writes:

* ``<root>/<split>/img_all/synthetic_<VVVVVV>_<FFFFFF>_leftImg8bit.png``: every frame;
* ``<root>/<split>/panoptic_video/<image_id>_final_mask.png``: RGB-encoded ids of every annotated
  frame (frame f is annotated when f % stride == 0, f = 1..T, as in Cityscapes-VPS);
* ``<root>/im_all_info_<split>_city_vps.json`` and ``<root>/panoptic_gt_<split>_city_vps.json``.

Image ids follow ``VVVV_FFFF_<city>_<seq>_<frame>`` with city ``synthetic``, seq = the video number and
FFFF a split-wide counter of annotated frames. Segment ids: a stuff class has the id of its colour
(as the released ground truth), a thing ``1000 * category + instance``, stable through its video.
The same arguments give byte-identical files: each video draws from its own generator seeded by
(seed, split, video).
"""
import logging
import os
from collections import Counter
from typing import Dict, List

import numpy as np
from tqdm import tqdm

from ..utils.file_io import atomic_write_image, atomic_write_json
from ..utils.errors import UserError
from .categories import CITYSCAPES_VPS_CATEGORIES
from .datasets.cityscapes_vps import FRAME_ID_BASE, RAW_FRAME_SUFFIX, split_paths
from .panoptic_io import write_panoptic_png
from .synthetic_scene import build_world, render_frame

logger = logging.getLogger(__name__)

CITY = "synthetic"
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}
STUFF_SEGMENT_ID = {
    c["id"]: c["color"][0] + 256 * c["color"][1] + 65536 * c["color"][2]
    for c in CITYSCAPES_VPS_CATEGORIES
    if not c["isthing"]
}
THING_ID_DIVISOR = 1000


def frame_stem(video: int, frame: int) -> str:
    return f"{CITY}_{video:06d}_{frame:06d}"


def label_to_segments(label: np.ndarray):
    """Turn a rendered label map into (segment id map, segments_info in id order)."""
    values, inverse, areas = np.unique(label, return_inverse=True, return_counts=True)
    ids = np.array(
        [STUFF_SEGMENT_ID[v] if v < THING_ID_DIVISOR else v for v in values.tolist()], np.int64
    )
    seg_map = ids[inverse.reshape(label.shape)]
    segments = []
    for value, seg_id, area in zip(values.tolist(), ids.tolist(), areas.tolist()):
        ys, xs = np.nonzero(label == value)
        x0, y0 = int(xs.min()), int(ys.min())
        segments.append(
            {
                "id": seg_id,
                "category_id": value if value < THING_ID_DIVISOR else value // THING_ID_DIVISOR,
                "iscrowd": 0,
                "area": int(area),
                "bbox": [x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1],
            }
        )
    return seg_map, sorted(segments, key=lambda s: s["id"])


def write_synthetic_split(
    root: str,
    split: str,
    videos: int = 10,
    frames: int = 30,
    stride: int = 5,
    height: int = 128,
    width: int = 256,
    seed: int = 0,
) -> Dict:
    """Render and write one split; returns its statistics (see :func:`split_statistics`)."""
    if split not in SPLIT_SEEDS:
        raise UserError(f"--split must be one of {sorted(SPLIT_SEEDS)}, got '{split}'")
    for name, value, low in (("videos", videos, 1), ("frames", frames, 1), ("stride", stride, 1),
                             ("height", height, 32), ("width", width, 32)):
        if value < low:
            raise UserError(f"--{name} must be >= {low}, got {value}")
    if frames >= FRAME_ID_BASE:
        raise UserError(f"--frames must be < {FRAME_ID_BASE}, got {frames}")
    paths = split_paths(root, split)
    for folder in (paths["image_root"], paths["panoptic_root"]):
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            reason = f"{e.strerror}: {e.filename}" if e.filename else e
            raise UserError(f"--root {root}: cannot write the split there ({reason}), expected a "
                            "writable folder") from None
    all_images: List[Dict] = []
    pan_images: List[Dict] = []
    annotations: List[Dict] = []
    for v in tqdm(range(1, videos + 1), desc=f"synthetic {split}", unit="video"):
        rng = np.random.default_rng([seed, SPLIT_SEEDS[split], v])
        scene = build_world(rng, height, width, frames)
        for f in range(1, frames + 1):
            rgb, label, _ = render_frame(scene, f - 1, rng)
            file_name = frame_stem(v, f) + RAW_FRAME_SUFFIX
            atomic_write_image(os.path.join(paths["image_root"], file_name), rgb)
            all_images.append(
                {"id": v * FRAME_ID_BASE + f, "file_name": file_name, "width": width, "height": height}
            )
            if f % stride:
                continue
            image_id = f"{v:04d}_{len(pan_images) + 1:04d}_{frame_stem(v, f)}"
            seg_map, segments = label_to_segments(label)
            png_name = f"{image_id}_final_mask.png"
            write_panoptic_png(os.path.join(paths["panoptic_root"], png_name), seg_map)
            pan_images.append(
                {"id": image_id, "file_name": image_id + RAW_FRAME_SUFFIX, "width": width, "height": height}
            )
            annotations.append({"image_id": image_id, "file_name": png_name, "segments_info": segments})
    categories = [dict(c) for c in CITYSCAPES_VPS_CATEGORIES]
    atomic_write_json(paths["all_info_json"], {"images": all_images, "categories": categories})
    atomic_write_json(
        paths["panoptic_json"],
        {"images": pan_images, "annotations": annotations, "categories": categories},
    )
    return split_statistics(paths["panoptic_json"], videos, len(all_images))


def split_statistics(panoptic_json: str, videos: int, frames: int) -> Dict:
    """Counts that tell whether a split is learnable but not trivial."""
    import json

    with open(panoptic_json) as f:
        pan = json.load(f)
    names = {c["id"]: c["name"] for c in pan["categories"]}
    things = {c["id"] for c in pan["categories"] if c["isthing"]}
    segments = Counter()
    pixels = Counter()
    tracks_per_video: Dict[int, Dict[int, int]] = {}  # video -> {thing id: annotated frames seen}
    for ann in pan["annotations"]:
        video = int(ann["image_id"][:4])
        for s in ann["segments_info"]:
            segments[s["category_id"]] += 1
            pixels[s["category_id"]] += s["area"]
            if s["category_id"] in things:
                seen = tracks_per_video.setdefault(video, {})
                seen[s["id"]] = seen.get(s["id"], 0) + 1
    annotated_per_video = len(pan["annotations"]) / max(1, videos)
    tracks = [n for v in tracks_per_video.values() for n in v.values()]
    total_pixels = sum(pixels.values())
    return {
        "videos": videos,
        "frames": frames,
        "annotated_frames": len(pan["annotations"]),
        "thing_tracks": len(tracks),
        "thing_tracks_per_video": len(tracks) / max(1, videos),
        "partial_tracks": sum(n < annotated_per_video for n in tracks),  # entered, left or hidden
        "segments_per_class": {names[c]: segments[c] for c in sorted(segments)},
        "pixel_share_per_class": {names[c]: round(pixels[c] / total_pixels, 4) for c in sorted(pixels)},
    }


def format_statistics(stats: Dict) -> str:
    lines = [
        f"videos: {stats['videos']}  frames: {stats['frames']}  annotated frames: {stats['annotated_frames']}",
        f"thing tracks: {stats['thing_tracks']} ({stats['thing_tracks_per_video']:.1f} per video, "
        f"{stats['partial_tracks']} not visible in every annotated frame)",
        f"{'class':<15}{'segments':>10}{'pixel share':>13}",
    ]
    for name, n in stats["segments_per_class"].items():
        lines.append(f"{name:<15}{n:>10}{stats['pixel_share_per_class'][name]:>13.4f}")
    return "\n".join(lines)
