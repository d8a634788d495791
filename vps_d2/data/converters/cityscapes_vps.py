"""Official Cityscapes-VPS release + Cityscapes ``leftImg8bit_sequence`` -> unified format.

Input (``original_release_facts.md`` §1.1-1.7; ``datasets/README.md`` shows the trees)::

    <release>/panoptic_im_<split>_city_vps.json     annotated images (id VVVV_FFFF_<stem>)
    <release>/im_all_info_<split>_city_vps.json     all frames (released for val and test; optional)
    <release>/<split>/cls/<image id>_*.png          colour semantic maps (train, val)
    <release>/<split>/inst/<image id>_*.png         Cityscapes instanceIds maps (train, val)
    <sequences>/[val/]<city>/<city>_<seq>_<frame>_leftImg8bit.png

Semantics, as released:

* category = Cityscapes trainId, read from the **colour** of ``cls`` (colours not in the 19-class
  table are void; colours that are not Cityscapes colours at all are counted as a warning);
* an ``inst`` value v >= 1000 is an object with instance number v % 1000; its class is the majority
  colour class of its pixels (ties: the lower trainId, void last), not v // 1000; objects whose
  majority is stuff or void are dropped (their pixels keep their colour class; thing-coloured ones
  become void); an object claims every pixel of its ``inst`` mask;
* values < 1000 carry no instance: thing pixels there (Cityscapes "group" regions) are void, as in
  the released ground truth, or one ``iscrowd`` segment per class and frame with ``crowd=True``;
* the same (class, v % 1000) within a video is the same object.

Deliberate differences: segment ids are deterministic (stuff = its colour's id as released, objects
1, 2, ... by first appearance) instead of random colours near the class colour; labels are paired
with frames by image id, not by the order of two separately sorted listings; train, val and test
are all prepared (train's frame list, not released, is derived from its annotated frames: a video is
the 30 frames ending at its last annotated frame, annotated every 5th).
"""
import os
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..categories import CITYSCAPES_VPS_CATEGORIES
from ..datasets.cityscapes_vps import FRAME_ID_BASE, RAW_FRAME_SUFFIX, annotated_image_stem
from .common import (
    VOID,
    ConversionError,
    SplitContext,
    color_id,
    dense_labels,
    read_json,
    read_label_image,
    require_dir,
    run_split,
    thing_lut,
)

SPLITS = ("train", "val", "test")
LABELLED_SPLITS = ("train", "val")
FRAMES_PER_VIDEO = 30
ANNOTATION_STRIDE = 5
INSTANCE_DIVISOR = 1000  # Cityscapes instanceIds: labelId * 1000 + instance number

# Cityscapes label colours that are not among the 19 classes (unlabeled/ego vehicle/static,
# dynamic, ground, parking, rail track, guard rail, bridge, tunnel, caravan, trailer): void without
# a warning. ('polegroup' and 'license plate' share the colours of pole and car, so they map there.)
CITYSCAPES_VOID_COLORS = (
    (0, 0, 0), (111, 74, 0), (81, 0, 81), (250, 170, 160), (230, 150, 140), (180, 165, 180),
    (150, 100, 100), (150, 120, 90), (0, 0, 90), (0, 0, 110),
)
_COLOR_TO_CATEGORY = {color_id(c["color"]): c["id"] for c in CITYSCAPES_VPS_CATEGORIES}
_VOID_CODES = {color_id(c) for c in CITYSCAPES_VOID_COLORS}

UNKNOWN_COLOR = "unknown class colour (made void)"
MERGED = "two instanceIds values with the same class and instance number (merged)"


def panoptic_im_json(release: str, split: str) -> str:
    return os.path.join(release, f"panoptic_im_{split}_city_vps.json")


def available_splits(release: str) -> List[str]:
    return [s for s in SPLITS if os.path.isfile(panoptic_im_json(release, s))]


# ------------------------------------------------------------------------------------------------
# Labels of one annotated frame


def cityscapes_labels(inputs: Dict, ctx: SplitContext):
    """(cat_map, inst_map, issues) of one annotated frame from its ``cls`` and ``inst`` PNGs."""
    cls_path, inst_path = inputs["cls"], inputs["inst"]
    rgb = np.asarray(read_label_image(cls_path).convert("RGB"))
    code = rgb[..., 0].astype(np.int64) | (rgb[..., 1].astype(np.int64) << 8) | (
        rgb[..., 2].astype(np.int64) << 16)
    colors, inverse, counts = dense_labels(code)
    lut = np.full(len(colors), VOID, np.uint8)
    issues, unknown, example = [], 0, None
    for i, c in enumerate(colors.tolist()):
        if c in _COLOR_TO_CATEGORY:
            lut[i] = _COLOR_TO_CATEGORY[c]
        elif c not in _VOID_CODES:
            unknown += int(counts[i])
            example = example or f"RGB {(c & 255, (c >> 8) & 255, c >> 16)} in {cls_path}"
    if unknown:
        issues.append((UNKNOWN_COLOR, unknown, example))
    sem = lut[inverse]

    im = read_label_image(inst_path)
    if im.mode not in ("I", "I;16", "I;16B", "I;16L", "L"):
        raise ConversionError(
            f"{inst_path}: expected a single-channel instanceIds PNG (16-bit), got mode {im.mode}")
    inst = np.asarray(im).astype(np.int64)
    if inst.shape != sem.shape:
        raise ConversionError(f"{inst_path} is {inst.shape[1]}x{inst.shape[0]} but {cls_path} is "
                              f"{sem.shape[1]}x{sem.shape[0]}")

    cat_map = sem.copy()
    inst_map = np.full(sem.shape, -1, np.int64)
    big = inst >= INSTANCE_DIVISOR
    if big.any():
        values, which, _ = dense_labels(inst[big])
        table = np.bincount(which * 256 + sem[big], minlength=len(values) * 256)
        major = table.reshape(len(values), 256).argmax(1)  # ties: the lower id; void (255) last
        keep = thing_lut(ctx.categories)[major]
        numbers = values % INSTANCE_DIVISOR
        kept = list(zip(major[keep].tolist(), numbers[keep].tolist()))
        if len(set(kept)) < len(kept):
            dup = next(k for k in kept if kept.count(k) > 1)
            sizes = table.reshape(len(values), 256).sum(1)[keep]
            pixels = int(sum(n for k, n in zip(kept, sizes.tolist()) if k == dup))
            issues.append((MERGED, pixels, f"class {dup[0]} instance {dup[1]} in {inst_path}"))
        on = keep[which]
        cats, nums = cat_map[big], inst_map[big]
        cats[on] = major[which[on]]
        nums[on] = numbers[which[on]]
        cat_map[big], inst_map[big] = cats, nums
    return cat_map, inst_map, issues


# ------------------------------------------------------------------------------------------------
# Planning a split


class SequenceFrames:
    """Finds ``<city>_<seq>_<frame>_leftImg8bit.png`` under ``--sequences``.

    Accepted roots: ``leftImg8bit_sequence`` itself (frames in ``<split>/<city>/``; every
    Cityscapes-VPS video comes from Cityscapes *val*), one of its split folders (``<city>/``), its
    parent folder, or a flat folder of frames.
    """

    def __init__(self, root: str):
        self.root = require_dir(root, "the Cityscapes leftImg8bit_sequence folder")
        subs = ("val", "train", "test")
        self.bases = [root] + [os.path.join(root, s) for s in subs] + [
            os.path.join(root, "leftImg8bit_sequence", s) for s in subs]

    def find(self, name: str) -> Optional[str]:
        city = name.split("_")[0]
        for base in self.bases:
            for path in (os.path.join(base, city, name), os.path.join(base, name)):
                if os.path.isfile(path):
                    if base != self.bases[0]:
                        self.bases.remove(base)
                        self.bases.insert(0, base)  # try the folder that worked first next time
                    return path
        return None


class LabelFolder:
    """The label PNGs of one folder, found by image id (``<image id>_<anything>.png``)."""

    def __init__(self, folder: str, what: str):
        self.folder = require_dir(folder, what)
        self.names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".png"))
        self._index: Dict[int, Dict[str, List[str]]] = {}

    def find(self, image_id: str) -> List[str]:
        n = image_id.count("_") + 1
        if n not in self._index:
            index = defaultdict(list)
            for name in self.names:
                parts = os.path.splitext(name)[0].split("_")
                index["_".join(parts[:n])].append(name)
            self._index[n] = index
        return self._index[n].get(image_id, [])


def _stem_parts(stem: str, where: str) -> Tuple[str, str, str]:
    parts = stem.rsplit("_", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise ConversionError(f"{where}: '{stem}' is not of the form <city>_<seq>_<frame>")
    return parts[0], parts[1], parts[2]


def _derive_frames(video: int, stems: List[str], where: str) -> List[Tuple[int, str]]:
    """The 30-frame list of a video from its annotated frames (every 5th, the last one is f=30)."""
    parsed = [_stem_parts(s, where) for s in stems]
    if len({(c, q) for c, q, _ in parsed}) != 1:
        raise ConversionError(f"{where}: the annotated frames of video {video} come from several "
                              f"sequences: {sorted(stems)}")
    city, seq, _ = parsed[0]
    digits = len(parsed[0][2])
    numbers = [int(n) for _, _, n in parsed]
    start = max(numbers) - FRAMES_PER_VIDEO + 1
    bad = [s for s, n in zip(stems, numbers) if n < start or (n - start + 1) % ANNOTATION_STRIDE]
    if bad or start < 0:
        raise ConversionError(
            f"{where}: cannot derive the frames of video {video}: annotated frame "
            f"{(bad or stems)[0]} is not every {ANNOTATION_STRIDE}th of the {FRAMES_PER_VIDEO} "
            f"frames ending at {max(numbers)} (give im_all_info_<split>_city_vps.json)")
    return [(f, f"{city}_{seq}_{start + f - 1:0{digits}d}{RAW_FRAME_SUFFIX}")
            for f in range(1, FRAMES_PER_VIDEO + 1)]


def plan_split(release: str, sequences: SequenceFrames, split: str) -> Tuple[List[Dict], Dict]:
    """Video plans of one split (see :mod:`.common`) and the image list to write beside it.

    Every input is checked here, before anything is written: a missing frame or label file is an
    error naming the first one and the count.
    """
    im_json = panoptic_im_json(release, split)
    im_list = read_json(im_json, f"Cityscapes-VPS {split} image list")
    if not isinstance(im_list, dict) or not isinstance(im_list.get("images"), list):
        raise ConversionError(f"{im_json}: expected an object with an 'images' list")
    annotated: Dict[int, Dict[str, Dict]] = defaultdict(dict)
    for img in im_list["images"]:
        if "id" not in img or "file_name" not in img:
            raise ConversionError(f"{im_json}: image entry {img} has no 'id' or 'file_name'")
        try:
            video, stem = annotated_image_stem(str(img["id"]), im_json)
        except ValueError as e:
            raise ConversionError(str(e))
        if stem in annotated[video]:
            raise ConversionError(f"{im_json}: image {img['id']} is listed twice")
        annotated[video][stem] = img

    all_json = os.path.join(release, f"im_all_info_{split}_city_vps.json")
    frames: Dict[int, List[Tuple[int, str]]] = {}
    if os.path.isfile(all_json):
        listed = defaultdict(list)
        for img in read_json(all_json, f"Cityscapes-VPS {split} frame list").get("images", []):
            if "id" not in img or "file_name" not in img:
                raise ConversionError(f"{all_json}: image entry {img} has no 'id' or 'file_name'")
            fid = int(img["id"])
            name = os.path.basename(img["file_name"])
            listed[fid // FRAME_ID_BASE].append((fid % FRAME_ID_BASE, name))
        frames = {v: sorted(fs) for v, fs in listed.items()}
        for video in annotated:
            if video not in frames:
                raise ConversionError(
                    f"{im_json}: video {video} has annotated frames but no frames in {all_json}")
    else:
        frames = {v: _derive_frames(v, sorted(stems), im_json) for v, stems in annotated.items()}

    labelled = split in LABELLED_SPLITS
    if labelled:
        cls = LabelFolder(os.path.join(release, split, "cls"),
                          f"the {split} colour labels (cls/)")
        inst = LabelFolder(os.path.join(release, split, "inst"),
                           f"the {split} instance labels (inst/)")
    plans, missing_frames, problems = [], [], []
    for video in sorted(frames):
        plan = {"video": video, "frames": [], "annotated": []}
        names = {}
        for f, name in frames[video]:
            if not 0 < f < FRAME_ID_BASE:
                raise ConversionError(f"{all_json}: frame number {f} of video {video} is outside "
                                      f"1..{FRAME_ID_BASE - 1}")
            src = sequences.find(name)
            if src is None:
                missing_frames.append(name)
            plan["frames"].append({"f": f, "src": src, "name": name})
            names[name[: -len(RAW_FRAME_SUFFIX)] if name.endswith(RAW_FRAME_SUFFIX) else name] = f
        in_order = sorted(annotated.get(video, {}).items(), key=lambda kv: names.get(kv[0], 0))
        for stem, img in in_order:
            if stem not in names:
                raise ConversionError(f"{im_json}: annotated image {img['id']} is not among the "
                                      f"frames of video {video}")
            if not labelled:
                continue
            found = {}
            for what, folder in (("cls", cls), ("inst", inst)):
                hits = folder.find(str(img["id"]))
                if len(hits) > 1:
                    raise ConversionError(f"{folder.folder}: several labels for {img['id']}: "
                                          f"{', '.join(hits)}")
                if not hits:
                    problems.append(f"annotated frame {img['id']} has no {what} label in "
                                    f"{folder.folder} (expected {img['id']}_*.png)")
                    continue
                found[what] = os.path.join(folder.folder, hits[0])
            if len(found) == 2:
                plan["annotated"].append({
                    "f": names[stem], "image_id": str(img["id"]),
                    "image_file_name": img["file_name"],
                    "png_name": os.path.splitext(os.path.basename(found["cls"]))[0] + ".png",
                    "inputs": found,
                })
        plans.append(plan)
    if missing_frames:
        raise ConversionError(
            f"{len(missing_frames)} frame(s) of {split} are not in {sequences.root}, e.g. "
            f"{missing_frames[0]} (expected <sequences>/[val/]<city>/<name>)")
    if problems:
        raise ConversionError(f"{len(problems)} label file(s) missing in {split}: {problems[0]}")
    extra = {}
    if not labelled:
        extra[f"panoptic_im_{split}_city_vps.json"] = {
            "images": im_list["images"], "categories": [dict(c) for c in CITYSCAPES_VPS_CATEGORIES]}
    return plans, extra


def convert(release: str, sequences: str, out: str, splits: Optional[List[str]] = None,
            crowd: bool = False, link: str = "copy", strict: bool = False, workers: int = 1,
            quiet: bool = False, checkpoint_every: int = 25) -> List[Dict]:
    """Convert the given splits (default: every split whose image list is in ``release``)."""
    require_dir(release,
                "the Cityscapes-VPS release (panoptic_im_*_city_vps.json, <split>/cls, inst)")
    finder = SequenceFrames(sequences)
    splits = splits or available_splits(release)
    if not splits:
        raise ConversionError(f"{release} has no panoptic_im_<split>_city_vps.json "
                              f"(expected the official Cityscapes-VPS release)")
    plans = {s: plan_split(release, finder, s) for s in splits}  # check every split first
    summaries = []
    for split in splits:
        videos, extra = plans[split]
        ctx = SplitContext(
            dataset="cityscapes_vps", out=out, split=split, categories=CITYSCAPES_VPS_CATEGORIES,
            label_fn=cityscapes_labels if split in LABELLED_SPLITS else None,
            fingerprint={"converter": "cityscapes_vps", "crowd": crowd}, link=link, crowd=crowd,
            strict=strict, quiet=quiet, extra_json=extra, checkpoint_every=checkpoint_every,
        )
        summaries.append(run_split(ctx, videos, workers))
    return summaries
