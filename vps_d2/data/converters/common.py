"""What the dataset converters share: segments from label maps, deterministic ids, resume, output.

A converter plans a split as a list of *video plans* (plain dicts, so they can go to worker
processes)::

    {"video": 5,                                   # video number (ids are video*10000 + f)
     "frames": [{"f": 1, "src": path, "name": "frankfurt_000000_001732_leftImg8bit.png",
                 "extra": [(src, dst), ...]}, ...],   # every frame, f = 1..T in temporal order
     "annotated": [{"f": 5, "image_id": "0005_0025_frankfurt_000000_001736",
                    "image_file_name": ..., "png_name": ..., "inputs": {...}}, ...]}

and a *label function* ``label_fn(inputs, ctx) -> (cat_map, inst_map, issues)`` that turns one
annotated frame's raw labels into

* ``cat_map`` (HxW uint8): the dataset category id of each pixel, :data:`VOID` where void;
* ``inst_map`` (HxW int64): the raw instance number of thing pixels that belong to an object
  (the object's identity within the video is the pair (category, instance number)), -1 elsewhere;
* ``issues``: ``[(kind, pixels, example), ...]`` counted warnings (e.g. unknown class colours).

:func:`run_split` does the rest for every video: copy (or link) the frames to ``img_all/``, build
the segments of each annotated frame (:func:`build_segments`), give them ids that are stable per
object within the video (:class:`IdAssigner`), write the panoptic PNGs, and finally the two JSON
files. Every file is written atomically. Progress is kept per video in
``<out>/.prepare_state/<split>/<VVVV>.json`` (checkpointed every few annotated frames), so an
interrupted run, started again with the same command, skips what is finished and writes the same
bytes an uninterrupted run would have written.
"""
import json
import multiprocessing
import os
import shutil
import sys
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from ...utils.errors import UserError
from ...utils.file_io import atomic_path, atomic_write_json
from ..datasets.cityscapes_vps import FRAME_ID_BASE, split_paths
from ..panoptic_io import MAX_ID, write_panoptic_png

VOID = 255  # category value of void pixels in a cat_map
STATE_DIR = ".prepare_state"
STATE_VERSION = 1
LINK_MODES = ("copy", "hardlink", "symlink")

# Internal segment keys (never written): category << 34 | kind << 32 | instance number.
KIND_STUFF, KIND_THING, KIND_CROWD = 0, 1, 2
_CAT_SHIFT, _KIND_SHIFT = 34, 32
MAX_INSTANCE = 2**32 - 1


class ConversionError(UserError):
    """A problem with the user's input or output folder; the CLIs print it as one line."""


def color_id(color) -> int:
    """The RGB-encoded id of a colour (the id a stuff segment gets, as in the released GT)."""
    r, g, b = (int(c) for c in color)
    return r + 256 * g + 65536 * b


def read_json(path: str, what: str):
    if not os.path.isfile(path):
        raise ConversionError(f"{path} does not exist (expected the {what})")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ConversionError(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}); expected the {what}")


def require_dir(path: str, what: str) -> str:
    if not os.path.isdir(path):
        raise ConversionError(f"{path} is not a folder (expected {what})")
    return path


def image_size(path: str) -> Tuple[int, int]:
    """(width, height) from the image header."""
    try:
        with Image.open(path) as im:
            return im.size
    except OSError as e:
        raise ConversionError(f"{path}: cannot read image ({e})")


def read_label_image(path: str) -> Image.Image:
    """Open and decode a label PNG, with one clear error for a missing or corrupt file."""
    try:
        im = Image.open(path)
        im.load()
        return im
    except OSError as e:
        raise ConversionError(f"{path}: cannot read label image ({e})")


def place_file(src: str, dst: str, mode: str = "copy") -> None:
    """Put ``src`` at ``dst`` (a byte copy, a hard link or an absolute symlink), atomically."""
    with atomic_path(dst) as tmp:
        if mode == "copy":
            shutil.copyfile(src, tmp)
            return
        os.remove(tmp)
        try:
            if mode == "hardlink":
                os.link(src, tmp)
            else:
                os.symlink(os.path.abspath(src), tmp)
        except OSError as e:
            raise ConversionError(f"cannot {mode} {src} to {dst} ({e.strerror}); use --link copy")


# ------------------------------------------------------------------------------------------------
# Counted warnings


class Issues:
    """Counted warnings by kind: number of frames, pixels, and the first example."""

    def __init__(self, data: Optional[Dict] = None):
        self.data: Dict[str, List] = {k: list(v) for k, v in (data or {}).items()}

    def add(self, kind: str, pixels: int, example: str) -> None:
        entry = self.data.setdefault(kind, [0, 0, example])
        entry[0] += 1
        entry[1] += int(pixels)

    def merge(self, other: "Issues") -> None:
        for kind, (frames, pixels, example) in other.data.items():
            entry = self.data.setdefault(kind, [0, 0, example])
            entry[0] += frames
            entry[1] += pixels

    def lines(self) -> List[str]:
        return [
            f"warning: {kind}: {pixels} pixel(s) in {frames} frame(s), e.g. {example}"
            for kind, (frames, pixels, example) in sorted(self.data.items())
        ]


# ------------------------------------------------------------------------------------------------
# Segments of one frame


def dense_labels(values: np.ndarray, direct_limit: int = 2**25):
    """``np.unique(values, return_inverse=True, return_counts=True)`` without sorting pixels.

    For non-negative integers below ``direct_limit`` (label maps, 24-bit ids) one ``bincount``
    finds the distinct values; a lookup table gives every pixel its index. About 100x faster than
    the sort on a 2048x1024 map. Returns (sorted distinct values, index map, counts).
    """
    flat = values.ravel()
    if flat.size == 0 or flat.min() < 0 or flat.max() >= direct_limit:
        uniq, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
        return uniq, inverse.reshape(values.shape), counts
    counts = np.bincount(flat)
    uniq = np.flatnonzero(counts)
    lut = np.zeros(len(counts), np.int64)
    lut[uniq] = np.arange(len(uniq))
    return uniq, lut[values], counts[uniq]


def region_stats(index: np.ndarray, num: int) -> Tuple[np.ndarray, np.ndarray]:
    """Areas and COCO boxes [x, y, w, h] of the regions 0..num-1 of an HxW index map (-1 = none)."""
    h, w = index.shape
    shifted = index.astype(np.int64) + 1
    per_row = np.bincount((shifted * h + np.arange(h)[:, None]).ravel(), minlength=(num + 1) * h)
    per_col = np.bincount((shifted * w + np.arange(w)[None, :]).ravel(), minlength=(num + 1) * w)
    per_row = per_row.reshape(num + 1, h)[1:]
    rows, cols = per_row > 0, per_col.reshape(num + 1, w)[1:] > 0
    areas = per_row.sum(1)
    y0 = rows.argmax(1)
    y1 = h - 1 - rows[:, ::-1].argmax(1)
    x0 = cols.argmax(1)
    x1 = w - 1 - cols[:, ::-1].argmax(1)
    boxes = np.stack([x0, y0, x1 - x0 + 1, y1 - y0 + 1], axis=1)
    return areas, boxes


def thing_lut(categories: List[Dict]) -> np.ndarray:
    lut = np.zeros(256, bool)
    lut[[c["id"] for c in categories if c["isthing"]]] = True
    return lut


def build_segments(cat_map: np.ndarray, inst_map: np.ndarray, isthing: np.ndarray, crowd: bool):
    """Segments of one frame.

    A stuff pixel belongs to its category's segment; a thing pixel with an instance number to the
    (category, number) object; a thing pixel without one to its category's crowd segment when
    ``crowd`` is set, else it is void.

    Returns:
        keys (K,) int64 internal keys in increasing order (category, kind, instance), index (HxW)
        into ``keys`` (-1 = void), areas (K,), boxes (K, 4) [x, y, w, h].
    """
    # Pixel codes with a small range (0 void, 1 + category for stuff, then objects, then crowd
    # regions), made dense with bincounts; then put in key order.
    cat = cat_map.astype(np.int64)
    thing = isthing[cat] & (cat != VOID)
    stuff = (cat != VOID) & ~thing
    inst = inst_map.astype(np.int64)
    obj = thing & (inst >= 0)
    code = np.zeros(cat.shape, np.int64)
    code[stuff] = 1 + cat[stuff]
    numbers = np.zeros(0, np.int64)
    if obj.any():
        numbers, dense, _ = dense_labels(inst[obj])
        if numbers[-1] > MAX_INSTANCE:
            raise ConversionError(f"instance number {numbers[-1]} is too large")
        code[obj] = 257 + cat[obj] * len(numbers) + dense
    crowd_base = 257 + 256 * len(numbers)
    if crowd:
        group = thing & (inst < 0)
        code[group] = crowd_base + cat[group]
    codes, index, _ = dense_labels(code)
    if len(codes) and codes[0] == 0:
        codes, index = codes[1:], index - 1
    keys = np.empty(len(codes), np.int64)
    for i, c in enumerate(codes.tolist()):
        if c <= 256:
            keys[i] = (c - 1) << _CAT_SHIFT
        elif c < crowd_base:
            k, n = divmod(c - 257, len(numbers))
            keys[i] = (k << _CAT_SHIFT) | (KIND_THING << _KIND_SHIFT) | int(numbers[n])
        else:
            keys[i] = ((c - crowd_base) << _CAT_SHIFT) | (KIND_CROWD << _KIND_SHIFT)
    order = np.argsort(keys)
    rank = np.empty(len(order) + 1, np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1  # index -1 (void) stays -1
    index = rank[index]
    areas, boxes = region_stats(index, len(keys))
    return keys[order], index, areas, boxes


def key_parts(key: int) -> Tuple[int, int, int]:
    """Internal key -> (category, kind, instance number)."""
    key = int(key)
    return key >> _CAT_SHIFT, (key >> _KIND_SHIFT) & 3, key & MAX_INSTANCE


class IdAssigner:
    """Segment ids of one video, deterministic and stable per object.

    A stuff category's segment has the id of its colour in every frame (as in the released
    ground truth, so a PNG shows stuff in its class colour). Objects and crowd regions get
    1, 2, 3, ... in order of first appearance (frame order, then category and instance number),
    skipping the stuff colour ids, instead of the released random colours.
    """

    def __init__(self, categories: List[Dict], state: Optional[Dict] = None):
        self.stuff = {c["id"]: color_id(c["color"]) for c in categories if not c["isthing"]}
        if len(set(self.stuff.values())) != len(self.stuff):
            raise ValueError("stuff categories must have distinct colours")
        self.reserved = {color_id(c["color"]) for c in categories}
        self.next = int(state["next"]) if state else 1
        self.ids: Dict[int, int] = {int(k): int(v) for k, v in (state["ids"] if state else [])}

    def __call__(self, key: int) -> int:
        cat, kind, _ = key_parts(key)
        if kind == KIND_STUFF:
            return self.stuff[cat]
        key = int(key)
        if key not in self.ids:
            while self.next in self.reserved:
                self.next += 1
            if self.next > MAX_ID:
                raise ConversionError(f"more than {MAX_ID} objects in one video")
            self.ids[key] = self.next
            self.next += 1
        return self.ids[key]

    def state(self) -> Dict:
        return {"next": self.next, "ids": [[k, v] for k, v in self.ids.items()]}


# ------------------------------------------------------------------------------------------------
# One split


@dataclass
class SplitContext:
    """Everything a worker needs to convert the videos of one split (picklable)."""

    dataset: str  # for messages and progress, e.g. "cityscapes_vps"
    out: str
    split: str
    categories: List[Dict]
    label_fn: Optional[Callable]  # None for a split without labels
    fingerprint: Dict  # options that change label outputs; a record with another one is redone
    link: str = "copy"
    frame_fn: Optional[Callable] = None  # frame_fn(src, dst) instead of place_file (e.g. resize)
    crowd: bool = False
    strict: bool = False
    checkpoint_every: int = 25
    quiet: bool = False
    extra_json: Dict[str, Dict] = field(default_factory=dict)  # file name -> content, written last

    @property
    def has_labels(self) -> bool:
        return self.label_fn is not None


def _record_path(ctx: SplitContext, video: int) -> str:
    return os.path.join(ctx.out, STATE_DIR, ctx.split, f"{video:04d}.json")


def _load_record(path: str, ctx: SplitContext) -> Optional[Dict]:
    try:
        with open(path) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    if rec.get("version") != STATE_VERSION or rec.get("fingerprint") != ctx.fingerprint:
        return None
    return rec


def _outputs_exist(rec: Dict, paths: Dict[str, str]) -> bool:
    return all(os.path.exists(os.path.join(paths["panoptic_root"], a["file_name"]))
               for a in rec.get("annotations", []))


def convert_video(plan: Dict, ctx: SplitContext, progress: Optional[Callable] = None) -> Dict:
    """Convert one video (frames, then labels); returns its JSON entries and counters."""
    progress = progress or (lambda n=1: None)
    paths = split_paths(ctx.out, ctx.split)
    video = plan["video"]
    rec_path = _record_path(ctx, video)
    rec = _load_record(rec_path, ctx)
    issues = Issues()
    frames, copied = [], 0
    for fr in plan["frames"]:
        dst = os.path.join(paths["image_root"], fr["name"])
        if not os.path.exists(dst):
            if ctx.frame_fn is not None:
                ctx.frame_fn(fr["src"], dst)
            else:
                place_file(fr["src"], dst, ctx.link)
            copied += 1
        for src, extra_dst in fr.get("extra", ()):
            if not os.path.exists(extra_dst):
                place_file(src, extra_dst, ctx.link)
        w, h = image_size(dst)
        frames.append({"id": video * FRAME_ID_BASE + fr["f"], "file_name": fr["name"], "width": w,
                       "height": h})
        progress()
    result = {"video": video, "frames": frames, "images": [], "annotations": [], "copied": copied,
              "labelled": 0, "skipped": False, "issues": {}}
    if not ctx.has_labels:
        return result

    if rec and rec.get("complete") and _outputs_exist(rec, paths):
        progress(len(plan["annotated"]))
        result.update(images=rec["images"], annotations=rec["annotations"], skipped=copied == 0,
                      issues=rec.get("issues", {}))
        return result
    if rec and not rec.get("complete") and _outputs_exist(rec, paths):
        images, annotations = rec["images"], rec["annotations"]  # resume after the checkpoint
        assigner = IdAssigner(ctx.categories, rec["ids"])
        issues = Issues(rec.get("issues"))
    else:
        images, annotations, assigner = [], [], IdAssigner(ctx.categories)
    progress(len(annotations))
    sizes = {fr["f"]: (e["width"], e["height"]) for fr, e in zip(plan["frames"], frames)}
    isthing = thing_lut(ctx.categories)

    def save(complete: bool) -> None:
        atomic_write_json(rec_path, {
            "version": STATE_VERSION, "fingerprint": ctx.fingerprint, "complete": complete,
            "images": images, "annotations": annotations, "ids": assigner.state(),
            "issues": issues.data,
        })

    todo = plan["annotated"][len(annotations):]
    for n, ann in enumerate(todo, 1):
        cat_map, inst_map, found = ctx.label_fn(ann["inputs"], ctx)
        for kind, pixels, example in found:
            if ctx.strict:
                raise ConversionError(f"{kind}: {example} (--strict)")
            issues.add(kind, pixels, example)
        width, height = sizes[ann["f"]]
        if cat_map.shape != (height, width):
            raise ConversionError(
                f"labels of {ann['image_id']} are {cat_map.shape[1]}x{cat_map.shape[0]} but its "
                f"frame is {width}x{height}"
            )
        keys, index, areas, boxes = build_segments(cat_map, inst_map, isthing, ctx.crowd)
        ids = np.array([assigner(k) for k in keys.tolist()], np.int64)
        id_map = np.where(index >= 0, ids[np.maximum(index, 0)] if len(ids) else 0, 0)
        write_panoptic_png(os.path.join(paths["panoptic_root"], ann["png_name"]), id_map)
        segments = []
        for k, seg_id, area, box in zip(keys.tolist(), ids.tolist(), areas.tolist(),
                                         boxes.tolist()):
            cat, kind, _ = key_parts(k)
            segments.append({"id": seg_id, "category_id": cat, "iscrowd": int(kind == KIND_CROWD),
                             "area": area, "bbox": box})
        segments.sort(key=lambda s: s["id"])
        images.append({"id": ann["image_id"], "file_name": ann["image_file_name"], "width": width,
                       "height": height})
        annotations.append({"image_id": ann["image_id"], "file_name": ann["png_name"],
                            "segments_info": segments})
        result["labelled"] += 1
        progress()
        if n % ctx.checkpoint_every == 0 and n < len(todo):
            save(complete=False)
    save(complete=True)
    result.update(images=images, annotations=annotations, issues=issues.data)
    return result


def _convert_job(args):
    plan, ctx = args
    return convert_video(plan, ctx)


def run_split(ctx: SplitContext, videos: List[Dict], workers: int = 1) -> Dict:
    """Convert every video of a split and write its JSON files; returns a summary."""
    videos = sorted(videos, key=lambda v: v["video"])
    paths = split_paths(ctx.out, ctx.split)
    folders = [paths["image_root"]] + ([paths["panoptic_root"]] if ctx.has_labels else [])
    for folder in folders:  # an unwritable --out is the user's, not a bug: say so in one line
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise ConversionError(f"--out {ctx.out}: cannot create {folder} ({e.strerror}), "
                                  "expected a writable folder")
    total = sum(len(v["frames"]) + (len(v["annotated"]) if ctx.has_labels else 0) for v in videos)
    results = []
    with tqdm(total=total, desc=f"{ctx.dataset} {ctx.split}", unit="file", disable=ctx.quiet,
              file=sys.stderr, dynamic_ncols=True) as bar:
        if workers <= 1 or len(videos) <= 1:
            for plan in videos:
                results.append(convert_video(plan, ctx, bar.update))
        else:
            # spawn, not fork: forking a process with running OpenMP/OpenCV threads can deadlock
            with multiprocessing.get_context("spawn").Pool(min(workers, len(videos))) as pool:
                jobs = pool.imap(_convert_job, [(v, ctx) for v in videos])
                for plan, res in zip(videos, jobs):
                    bar.update(len(plan["frames"])
                               + (len(plan["annotated"]) if ctx.has_labels else 0))
                    results.append(res)
    categories = [dict(c) for c in ctx.categories]
    if ctx.has_labels:
        atomic_write_json(paths["panoptic_json"], {
            "images": [im for r in results for im in r["images"]],
            "annotations": [a for r in results for a in r["annotations"]],
            "categories": categories,
        })
    atomic_write_json(paths["all_info_json"], {"images": [f for r in results for f in r["frames"]],
                                               "categories": categories})
    for name, content in ctx.extra_json.items():
        atomic_write_json(os.path.join(ctx.out, name), content)
    return summarize(ctx, results)


def summarize(ctx: SplitContext, results: List[Dict]) -> Dict:
    names = {c["id"]: c["name"] for c in ctx.categories}
    things = {c["id"] for c in ctx.categories if c["isthing"]}
    segments = {c["id"]: 0 for c in ctx.categories}
    tracks, crowd = set(), 0
    issues = Issues()
    for r in results:
        issues.merge(Issues(r["issues"]))
        for a in r["annotations"]:
            for s in a["segments_info"]:
                segments[s["category_id"]] += 1
                crowd += s["iscrowd"]
                if s["category_id"] in things and not s["iscrowd"]:
                    tracks.add((r["video"], s["id"]))
    return {
        "dataset": ctx.dataset,
        "split": ctx.split,
        "videos": len(results),
        "frames": sum(len(r["frames"]) for r in results),
        "annotated_frames": sum(len(r["annotations"]) for r in results),
        "frames_copied": sum(r["copied"] for r in results),
        "frames_labelled": sum(r["labelled"] for r in results),
        "videos_skipped": sum(r["skipped"] for r in results),
        "thing_tracks": len(tracks),
        "crowd_segments": crowd,
        "segments_per_class": {names[c]: n for c, n in segments.items()},
        "warnings": issues.lines(),
    }


def format_summary(s: Dict) -> str:
    lines = [
        f"{s['dataset']} {s['split']}: {s['videos']} videos, {s['frames']} frames, "
        f"{s['annotated_frames']} annotated, {s['thing_tracks']} thing tracks "
        f"(this run: {s['frames_copied']} frames placed, {s['frames_labelled']} labels written, "
        f"{s['videos_skipped']} videos already done)"
    ]
    if s["annotated_frames"]:
        per_class = ", ".join(f"{n} {k}" for k, n in s["segments_per_class"].items() if n)
        lines.append(f"  segments per class: {per_class}")
    return "\n".join(lines + s["warnings"])


def run_cli(prog: str, main: Callable[[], int]) -> int:
    """Run a CLI body: user errors become one line on stderr and exit code 2 (no traceback)."""
    try:
        return main()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except UserError as e:
        message = " ".join(str(e).split()) or type(e).__name__
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
