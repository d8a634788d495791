"""Synthetic video panoptic dataset in the Cityscapes-VPS layout (SPEC §3; loader in
``datasets/cityscapes_vps.py``).

``write_synthetic_split`` renders videos with :mod:`synthetic_scene` and writes:

* ``<root>/<split>/img_all/synthetic_<VVVVVV>_<FFFFFF>_leftImg8bit.png``: every frame;
* ``<root>/<split>/panoptic_video/<image_id>_final_mask.png``: RGB-encoded ids of every annotated
  frame (frame f is annotated when f % stride == 0, f = 1..T, as in Cityscapes-VPS);
* ``<root>/im_all_info_<split>_city_vps.json`` and ``<root>/panoptic_gt_<split>_city_vps.json``;
* with ``flow=True``, ``<root>/<split>/flow/synthetic_<VVVVVV>_<FFFFFF>_flow.npy`` for every frame but a
  video's first: its exact backward flow to the previous frame (:mod:`synthetic_flow`).

Image ids follow ``VVVV_FFFF_<city>_<seq>_<frame>`` with city ``synthetic``, seq = the video number and
FFFF a split-wide counter of annotated frames. Segment ids: a stuff class has the id of its colour
(as the released ground truth), a thing ``1000 * category + instance``, stable through its video.
The same arguments give byte-identical files: each video draws from its own generator seeded by
(seed, split, video). Both JSONs carry a ``generator`` stamp (:func:`generator_stamp`) so that a
split written by another generator version or with other arguments is regenerated, not reused
(:func:`split_state`).

``difficulty="hard"`` adds the effects of :mod:`synthetic_hard` to the same scenes; each image entry
of im_all_info then lists the degradations of its frame (``effects``) and a top-level
``hard_effects`` lists per video the look-alike pairs, hidden objects and thin poles.
"""
import json
import logging
import os
from collections import Counter
from typing import Dict, List, Optional, Tuple

import numpy as np
from tqdm import tqdm

from ..utils.file_io import atomic_path, atomic_write_image, atomic_write_json
from ..utils.errors import UserError
from .categories import CITYSCAPES_VPS_CATEGORIES
from .datasets.cityscapes_vps import FLOW_SUFFIX, FRAME_ID_BASE, RAW_FRAME_SUFFIX, split_paths
from .panoptic_io import write_panoptic_png
from .synthetic_flow import backward_flow
from .synthetic_hard import HardVideo, format_hard_statistics, hard_statistics, make_hard
from .synthetic_scene import THING_ID_DIVISOR, Scene, build_world, render_frame

logger = logging.getLogger(__name__)

CITY = "synthetic"
GENERATOR_NAME = "vps_d2.synthetic"
# Bump when the rendered scenes or the written files change. 1: the first generator (no stamp);
# 2: solid two-wheelers, riders covering only part of them, wider poles, larger lights and signs;
# 3: fences labelled as whole panels (the pickets are texture).
GENERATOR_VERSION = 3
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}
DIFFICULTIES = ("clean", "hard")
STUFF_SEGMENT_ID = {
    c["id"]: c["color"][0] + 256 * c["color"][1] + 65536 * c["color"][2]
    for c in CITYSCAPES_VPS_CATEGORIES
    if not c["isthing"]
}


def frame_stem(video: int, frame: int) -> str:
    return f"{CITY}_{video:06d}_{frame:06d}"


def generator_stamp(split: str, videos: int, frames: int, stride: int, height: int, width: int,
                    seed: int, difficulty: str = "clean", flow: bool = False) -> Dict:
    """What wrote a split: generator name and version and the arguments (stored in both JSONs).
    A clean split's stamp has no ``difficulty``, as before the hard split existed; ``flow`` appears
    only when the ground-truth flow was written (a split with flow serves a request without it)."""
    stamp = {"name": GENERATOR_NAME, "version": GENERATOR_VERSION, "split": split, "videos": videos,
             "frames": frames, "stride": stride, "height": height, "width": width, "seed": seed}
    if difficulty != "clean":
        stamp["difficulty"] = difficulty
    return dict(stamp, flow=True) if flow else stamp


def split_state(root: str, split: str, stamp: Dict) -> Tuple[str, str]:
    """Whether the split in ``root`` can be reused for ``stamp``: ("missing", ""), ("stale", why) or
    ("current", why). Current means both JSONs carry ``stamp`` and every file they list exists."""
    paths = split_paths(root, split)
    if not (os.path.isfile(paths["all_info_json"]) or os.path.isfile(paths["panoptic_json"])):
        return "missing", ""
    try:
        with open(paths["all_info_json"]) as f:
            info = json.load(f)
        with open(paths["panoptic_json"]) as f:
            pan = json.load(f)
        old = [info.get("generator"), pan.get("generator")]
        files = [os.path.join(paths["image_root"], im["file_name"]) for im in info["images"]]
        files += [os.path.join(paths["panoptic_root"], a["file_name"]) for a in pan["annotations"]]
    except (OSError, ValueError, AttributeError, KeyError, TypeError) as e:
        return "stale", f"its JSON files are incomplete or unreadable ({e})"
    if not all(isinstance(s, dict) and "version" in s for s in old):
        return "stale", "it has no generator stamp (written by generator version 1)"
    other = [s for s in old if s.get("name") != GENERATOR_NAME or s["version"] != GENERATOR_VERSION]
    if other:
        version = other[0]["version"]
        return "stale", f"it was written by generator version {version}, this is version {GENERATOR_VERSION}"
    want = dict({"difficulty": "clean"}, **stamp)
    if want.get("flow"):
        files += flow_files(root, split, info["images"])
    written = [dict({"difficulty": "clean"}, **s) for s in old]
    changed = [f"--{k} {s.get(k)} instead of {v}" for s in written for k, v in want.items() if s.get(k) != v]
    if changed:
        return "stale", f"it was written with other arguments ({', '.join(dict.fromkeys(changed))})"
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        return "stale", f"{len(missing)} of its files are missing, e.g. {missing[0]}"
    return "current", f"generator version {GENERATOR_VERSION}, same arguments"


def flow_path(root: str, split: str, file_name: str) -> str:
    """Where the ground-truth flow of the frame ``file_name`` (``..._leftImg8bit.png``) lives."""
    return os.path.join(root, split, "flow", file_name[: -len(RAW_FRAME_SUFFIX)] + FLOW_SUFFIX)


def flow_files(root: str, split: str, images: List[Dict]) -> List[str]:
    """The flow files a split written with ``flow=True`` has: every frame's but a video's first."""
    return [flow_path(root, split, im["file_name"]) for im in images if im["id"] % FRAME_ID_BASE > 1]


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
    difficulty: str = "clean",
    flow: bool = False,
) -> Dict:
    """Render and write one split; returns its statistics (see :func:`split_statistics`). With
    ``flow`` the ground-truth backward flow of every frame but a video's first is written too:
    float32 (H, W, 2) ``.npy``, NaN where the point is not visible in the previous frame."""
    if split not in SPLIT_SEEDS:
        raise UserError(f"--split must be one of {sorted(SPLIT_SEEDS)}, got '{split}'")
    if difficulty not in DIFFICULTIES:
        raise UserError(f"--difficulty must be one of {list(DIFFICULTIES)}, got '{difficulty}'")
    for name, value, low in (("videos", videos, 1), ("frames", frames, 1), ("stride", stride, 1),
                             ("height", height, 32), ("width", width, 32)):
        if value < low:
            raise UserError(f"--{name} must be >= {low}, got {value}")
    if frames >= FRAME_ID_BASE:
        raise UserError(f"--frames must be < {FRAME_ID_BASE}, got {frames}")
    paths = split_paths(root, split)
    for key in ("all_info_json", "panoptic_json"):  # an interrupted rewrite must not look current
        if os.path.isfile(paths[key]):
            os.remove(paths[key])
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
    hard_effects: List[Dict] = []
    for v in tqdm(range(1, videos + 1), desc=f"synthetic {split}", unit="video"):
        scene, rng, hard = build_video(seed, split, v, height, width, frames, stride, difficulty)
        if hard:
            hard_effects.append(dict(video=v, **hard.record()))
        previous = None
        for f in range(1, frames + 1):
            rgb, label, _ = render_frame(scene, f - 1, rng)
            file_name = frame_stem(v, f) + RAW_FRAME_SUFFIX
            if flow and previous is not None:
                with atomic_path(flow_path(root, split, file_name)) as tmp, open(tmp, "wb") as fh:
                    np.save(fh, backward_flow(scene, f - 1, label, previous))
            previous = label
            image = {"id": v * FRAME_ID_BASE + f, "file_name": file_name, "width": width, "height": height}
            if hard:
                rgb, image["effects"] = hard.apply(f, rgb)
            atomic_write_image(os.path.join(paths["image_root"], file_name), rgb)
            all_images.append(image)
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
    stamp = generator_stamp(split, videos, frames, stride, height, width, seed, difficulty, flow)
    info = {"generator": stamp, "images": all_images, "categories": categories}
    if difficulty == "hard":
        info["hard_effects"] = hard_effects
    atomic_write_json(paths["all_info_json"], info)
    atomic_write_json(
        paths["panoptic_json"],
        {"generator": stamp, "images": pan_images, "annotations": annotations, "categories": categories},
    )
    return split_statistics(paths["panoptic_json"], videos, len(all_images), paths["all_info_json"])


def build_video(seed: int, split: str, video: int, height: int, width: int, frames: int, stride: int,
                difficulty: str = "clean") -> Tuple[Scene, np.random.Generator, Optional[HardVideo]]:
    """The scene of one video, the generator its frames then draw from (in frame order) and, for a
    hard video, its effects (else None). The hard effects draw from a generator of their own, so
    a hard video's scene is its clean scene plus the effects."""
    rng = np.random.default_rng([seed, SPLIT_SEEDS[split], video])
    scene = build_world(rng, height, width, frames)
    if difficulty == "clean":
        return scene, rng, None
    hard_rng = np.random.default_rng([seed, SPLIT_SEEDS[split], video, 1])
    return scene, rng, make_hard(scene, hard_rng, frames, stride)


def split_statistics(panoptic_json: str, videos: int, frames: int, all_info_json: Optional[str] = None) -> Dict:
    """Counts and per-class sizes that tell whether a split is learnable but not trivial; for a
    hard split (``all_info_json`` given) also the counts of each hard effect."""
    with open(panoptic_json) as f:
        pan = json.load(f)
    info = {}
    if all_info_json:
        with open(all_info_json) as f:
            info = json.load(f)
    names = {c["id"]: c["name"] for c in pan["categories"]}
    things = {c["id"] for c in pan["categories"] if c["isthing"]}
    segments = Counter()
    frames_with = Counter()  # annotated frames that contain the class
    pixels = Counter()
    sizes: Dict[int, List] = {}  # category -> [(area, box w, box h)]
    tracks_per_video: Dict[int, Dict[int, int]] = {}  # video -> {thing id: annotated frames seen}
    for ann in pan["annotations"]:
        video = int(ann["image_id"][:4])
        frames_with.update({s["category_id"] for s in ann["segments_info"]})
        for s in ann["segments_info"]:
            segments[s["category_id"]] += 1
            pixels[s["category_id"]] += s["area"]
            sizes.setdefault(s["category_id"], []).append((s["area"], s["bbox"][2], s["bbox"][3]))
            if s["category_id"] in things:
                seen = tracks_per_video.setdefault(video, {})
                seen[s["id"]] = seen.get(s["id"], 0) + 1
    annotated = len(pan["annotations"])
    annotated_per_video = annotated / max(1, videos)
    tracks = [n for v in tracks_per_video.values() for n in v.values()]
    total_pixels = sum(pixels.values())
    classes = sorted(segments)
    med = {c: np.median(np.array(sizes[c], np.float64), axis=0) for c in classes}
    fill = {c: float(np.median([a / (w * h) for a, w, h in sizes[c]])) for c in classes}
    stats = {
        "videos": videos,
        "frames": frames,
        "annotated_frames": annotated,
        "thing_tracks": len(tracks),
        "thing_tracks_per_video": len(tracks) / max(1, videos),
        "partial_tracks": sum(n < annotated_per_video for n in tracks),  # entered, left or hidden
        "segments_per_class": {names[c]: segments[c] for c in classes},
        "frame_share_per_class": {names[c]: round(frames_with[c] / max(1, annotated), 4) for c in classes},
        "pixel_share_per_class": {names[c]: round(pixels[c] / total_pixels, 4) for c in classes},
        "median_area_per_class": {names[c]: float(med[c][0]) for c in classes},
        "median_box_per_class": {names[c]: [float(med[c][1]), float(med[c][2])] for c in classes},
        "median_fill_per_class": {names[c]: round(fill[c], 4) for c in classes},
    }
    if "hard_effects" in info:
        stats["hard_effects"] = hard_statistics(info)
    return stats


def format_statistics(stats: Dict) -> str:
    """The split's statistics as a table: one row per class, medians over its segments."""
    lines = [
        f"videos: {stats['videos']}  frames: {stats['frames']}  annotated frames: {stats['annotated_frames']}",
        f"thing tracks: {stats['thing_tracks']} ({stats['thing_tracks_per_video']:.1f} per video, "
        f"{stats['partial_tracks']} not visible in every annotated frame)",
        f"{'class':<15}{'segments':>9}{'in frames':>10}{'pixel share':>12}"
        f"{'med. area':>10}{'med. box w x h':>16}{'med. fill':>10}",
    ]
    for name, n in stats["segments_per_class"].items():
        bw, bh = stats["median_box_per_class"][name]
        lines.append(
            f"{name:<15}{n:>9}{stats['frame_share_per_class'][name]:>10.2f}"
            f"{stats['pixel_share_per_class'][name]:>12.4f}{stats['median_area_per_class'][name]:>10.0f}"
            f"{f'{bw:.0f} x {bh:.0f}':>16}{stats['median_fill_per_class'][name]:>10.2f}"
        )
    if "hard_effects" in stats:
        lines.append(format_hard_statistics(stats["hard_effects"]))
    return "\n".join(lines)
