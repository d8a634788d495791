"""VIPSeg release -> unified format at 720p (issue 14; 124 classes, table in ``categories.py``).

Input: the official release (``datasets/README.md``)::

    <vipseg>/imgs/<video>/<frame>.jpg          frames
    <vipseg>/panomasks/<video>/<frame>.png     0 = void; a stuff pixel holds its class id + 1; a
                                               thing pixel (class id + 1)·100 + instance, or its
                                               class id + 1 when the object has no instance
    <vipseg>/{train,val}.txt                   the videos of each split, one per line

Like the official ``change2_720p.py``, every frame is resized to a height of 720 px and a width of
``int(720·w/h)`` (frames bilinear, masks nearest); unlike it, every frame of a listed video must
have its mask and end up converted (a missing one is an error, and the written split is counted
against the release: the official script can silently drop frames). As the official
``create_panoptic_video_labels.py``, each distinct mask value of a thing class is one object
through the video (never crowd) and each stuff class one segment.

Naming: video number = position in the sorted split list + 1; frame f = 1..T in file order (every
frame annotated, λ = 1)::

    img_all/vipseg_<video>_<frame>.jpg
    image id VVVV_FFFF_vipseg_<video>_<frame>
    panoptic_video/<image id>.png

(``vipseg_videos.json`` in the output maps each video number to its VIPSeg name.)
"""
import os
from typing import Dict, List, Optional, Tuple

import numpy as np
from PIL import Image

from ...utils.file_io import atomic_path
from ..categories import VIPSEG_CATEGORIES
from ..datasets.cityscapes_vps import FRAME_ID_BASE
from .common import VOID, ConversionError, SplitContext, read_label_image, require_dir, run_split

SPLITS = ("train", "val")
CITY = "vipseg"
HEIGHT = 720
VIDEO_NAMES_JSON = "vipseg_videos.json"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
UNKNOWN_CLASS = "mask value of no VIPSeg class (made void)"
_NUM = len(VIPSEG_CATEGORIES)
_THING = np.zeros(_NUM, bool)
_THING[[c["id"] for c in VIPSEG_CATEGORIES if c["isthing"]]] = True


def size_720p(width: int, height: int) -> Tuple[int, int]:
    """The official preparation's output size: height 720, width int(720·w/h)."""
    return int(HEIGHT * width / height), HEIGHT


def resize_frame(src: str, dst: str) -> None:
    """Write ``src`` resized to 720p (bilinear, as the official script) at ``dst``, atomically."""
    try:
        with Image.open(src) as im:
            im = im.convert("RGB").resize(size_720p(*im.size), Image.BILINEAR)
    except OSError as e:
        raise ConversionError(f"{src}: cannot read the frame ({e})")
    with atomic_path(dst) as tmp:
        im.save(tmp, format="JPEG")


def vipseg_labels(inputs: Dict, ctx: SplitContext):
    """(cat_map, inst_map, issues) of one raw mask, resized to 720p (nearest)."""
    path = inputs["mask"]
    im = read_label_image(path)
    if im.mode not in ("L", "P", "I", "I;16"):
        raise ConversionError(f"{path}: expected a single-channel mask PNG, got mode {im.mode}")
    raw = np.asarray(im.resize(size_720p(*im.size), Image.NEAREST)).astype(np.int64)
    cls = np.where(raw >= 125, raw // 100, raw) - 1  # -1 = void
    issues = []
    unknown = (raw > 0) & ((cls < 0) | (cls >= _NUM))
    if unknown.any():
        example = f"value {int(raw[unknown][0])} in {path}"
        issues.append((UNKNOWN_CLASS, int(unknown.sum()), example))
    valid = (raw > 0) & ~unknown
    cat_map = np.where(valid, cls, VOID).astype(np.uint8)
    inst_map = np.where(valid & _THING[np.clip(cls, 0, _NUM - 1)], raw, -1)
    return cat_map, inst_map, issues


def read_split_list(vipseg: str, split: str) -> List[str]:
    path = os.path.join(vipseg, f"{split}.txt")
    if not os.path.isfile(path):
        raise ConversionError(f"{path} does not exist (expected the list of {split} videos)")
    with open(path) as f:
        videos = [line.strip() for line in f if line.strip()]
    if not videos:
        raise ConversionError(f"{path} lists no video")
    return sorted(videos)


def plan_split(vipseg: str, split: str) -> Tuple[List[Dict], Dict[int, str]]:
    """Video plans of one split and video number -> name; every input is checked first."""
    imgs = require_dir(os.path.join(vipseg, "imgs"), "the VIPSeg frames (imgs/<video>/)")
    masks = require_dir(os.path.join(vipseg, "panomasks"), "the VIPSeg masks (panomasks/<video>/)")
    plans, names = [], {}
    for v, name in enumerate(read_split_list(vipseg, split), 1):
        folder = os.path.join(imgs, name)
        if not os.path.isdir(folder):
            raise ConversionError(f"{folder} is not a folder (video '{name}' of {split}.txt)")
        frames = sorted(f for f in os.listdir(folder)
                        if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS and f[0] != ".")
        if not frames:
            raise ConversionError(f"{folder} has no frames")
        if len(frames) >= FRAME_ID_BASE:
            raise ConversionError(f"video {name} has {len(frames)} frames; at most "
                                  f"{FRAME_ID_BASE - 1} fit the frame ids")
        mask_of = {f: os.path.join(masks, name, os.path.splitext(f)[0] + ".png") for f in frames}
        missing = [f for f in frames if not os.path.isfile(mask_of[f])]
        if missing:
            raise ConversionError(f"{len(missing)} frame(s) of video '{name}' have no mask, "
                                  f"e.g. {mask_of[missing[0]]}")
        plan = {"video": v, "frames": [], "annotated": []}
        for f, frame in enumerate(frames, 1):
            stem = f"{CITY}_{name}_{os.path.splitext(frame)[0]}"
            image_id = f"{v:04d}_{f:04d}_{stem}"
            plan["frames"].append({"f": f, "src": os.path.join(folder, frame),
                                   "name": stem + ".jpg", "extra": []})
            plan["annotated"].append({
                "f": f, "image_id": image_id, "image_file_name": image_id + ".jpg",
                "png_name": image_id + ".png",
                "inputs": {"mask": mask_of[frame]}})
        plans.append(plan)
        names[v] = name
    return plans, names


def convert(vipseg: str, out: str, splits: Optional[List[str]] = None, strict: bool = False,
            workers: int = 1, quiet: bool = False) -> Tuple[List[Dict], List[str]]:
    """Convert the given splits (default: train and val); returns (summaries, notes)."""
    require_dir(vipseg, "the VIPSeg release (imgs/, panomasks/, train.txt, val.txt)")
    splits = splits or list(SPLITS)
    plans = {split: plan_split(vipseg, split) for split in splits}  # check everything first
    summaries = []
    for split in splits:
        videos, names = plans[split]
        ctx = SplitContext(
            dataset="vipseg", out=out, split=split, categories=VIPSEG_CATEGORIES,
            label_fn=vipseg_labels, fingerprint={"converter": "vipseg", "height": HEIGHT},
            frame_fn=resize_frame, strict=strict, quiet=quiet,
            extra_json={f"{split}_{VIDEO_NAMES_JSON}": {str(v): n for v, n in names.items()}},
        )
        summary = run_split(ctx, videos, workers)
        expected = sum(len(p["frames"]) for p in videos)
        if summary["frames"] != expected or summary["annotated_frames"] != expected:
            raise ConversionError(
                f"{out}: {summary['frames']} frames and {summary['annotated_frames']} masks "
                f"written for the {expected} frames of {split}; run again to complete it")
        summaries.append(summary)
    return summaries, []
