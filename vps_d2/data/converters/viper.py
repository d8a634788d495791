"""Raw VIPER -> unified format with the 23 VPS classes (SPEC §3; table in ``categories.py``).

Input (the layout of the VIPER download; ``datasets/README.md`` shows the tree)::

    <viper>/[<split>/]classes.csv                   raw class id, name, colour (cross-checked only)
    <viper>/<split>/img/<seq>/<seq>_<frame>.jpg|png  frames (1920x1080, ~15 fps)
    <viper>/<split>/cls/<seq>/<seq>_<frame>.png      8-bit indexed: the raw class id
    <viper>/<split>/inst/<seq>/<seq>_<frame>.png     RGB: R = raw class id, instance id = 256*G + B
    <viper>/<split>/flow/<seq>/<seq>_<frame>.npz     optional ground-truth flow (copied with --flow)
    <viper>/<split>/weather.csv | conditions.csv    optional: sequence -> day/sunset/rain/night/snow

Semantics: the class of a pixel comes from ``cls`` (raw id -> VPS id by ``viper_id``; the void
classes of ``VIPER_VOID_IDS`` -> void; ids in neither are void and counted as a warning). A thing
pixel belongs to the object (class, 256*G + B) of ``inst``; instance id 0 means "no object": such
pixels are void (or a crowd segment with ``crowd=True``). Pixels where ``inst``'s R disagrees with
``cls`` are counted as a warning; ``cls`` wins.

Naming in the unified format: city ``viper``, seq = the sequence folder name, frame = the raw frame
number as written in the file name. Video number = int(<seq>); frame f = 1..T is the position among
the sequence's frames (every frame annotated, lambda = 1)::

    img_all/viper_<seq>_<frame>.<jpg|png>            (bytes of the source frame, not re-encoded)
    image id VVVV_FFFF_viper_<seq>_<frame>           (FFFF = f)
    panoptic_video/<image id>.png
    flow/viper_<seq>_<frame>.npz                     (with --flow)
"""
import csv
import os
import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..categories import VIPER_VOID_IDS, VIPER_VPS_CATEGORIES
from ..datasets.cityscapes_vps import FRAME_ID_BASE
from .common import (
    VOID,
    ConversionError,
    SplitContext,
    read_label_image,
    require_dir,
    run_split,
    thing_lut,
)

SPLITS = ("train", "val")
CITY = "viper"
CONDITIONS = ("day", "sunset", "rain", "night", "snow")
CONDITION_FILES = ("weather.csv", "conditions.csv")
IMAGE_EXTENSIONS = (".jpg", ".png")  # preference order when a frame exists in both formats
# Names of the raw classes that become void (SPEC §3), to cross-check classes.csv.
VIPER_VOID_NAMES = {0: "unlabeled", 1: "ambiguous", 5: "railtrack", 21: "animal", 22: "bicycle",
                    28: "trailer", 29: "train", 30: "plane", 31: "boat"}

UNKNOWN_CLASS = "unknown VIPER class id (made void)"
CLASS_MISMATCH = "inst class (R) differs from cls (cls used)"

_RAW_TO_VPS = np.full(256, VOID, np.uint8)
_KNOWN_RAW = np.zeros(256, bool)
for _c in VIPER_VPS_CATEGORIES:
    _RAW_TO_VPS[_c["viper_id"]] = _c["id"]
    _KNOWN_RAW[_c["viper_id"]] = True
_KNOWN_RAW[list(VIPER_VOID_IDS)] = True
_FRAME_RE = re.compile(r"^(?P<seq>[^_]+)_(?P<frame>\d+)$")


def viper_labels(inputs: Dict, ctx: SplitContext):
    """(cat_map, inst_map, issues) of one frame from its ``cls`` and ``inst`` PNGs."""
    cls_path, inst_path = inputs["cls"], inputs["inst"]
    im = read_label_image(cls_path)
    if im.mode not in ("P", "L"):
        raise ConversionError(
            f"{cls_path}: expected an 8-bit indexed class PNG, got mode {im.mode}")
    raw = np.asarray(im)
    im = read_label_image(inst_path)
    if im.mode not in ("RGB", "RGBA"):
        raise ConversionError(f"{inst_path}: expected an RGB instance PNG, got mode {im.mode}")
    inst = np.asarray(im.convert("RGB"))
    if inst.shape[:2] != raw.shape:
        raise ConversionError(f"{inst_path} is {inst.shape[1]}x{inst.shape[0]} but {cls_path} is "
                              f"{raw.shape[1]}x{raw.shape[0]}")
    issues = []
    unknown = ~_KNOWN_RAW[raw]
    if unknown.any():
        value = int(raw[unknown][0])
        issues.append((UNKNOWN_CLASS, int(unknown.sum()), f"class {value} in {cls_path}"))
    cat_map = _RAW_TO_VPS[raw]
    thing = thing_lut(ctx.categories)[cat_map]
    mismatch = thing & (inst[..., 0] != raw)
    if mismatch.any():
        issues.append((CLASS_MISMATCH, int(mismatch.sum()), str(inst_path)))
    number = inst[..., 1].astype(np.int64) * 256 + inst[..., 2]
    inst_map = np.where(thing & (number > 0), number, -1)
    return cat_map, inst_map, issues


def check_classes_csv(viper: str, split: str) -> Optional[str]:
    """Cross-check ``classes.csv`` (if there is one) against the class table; returns its path."""
    names = {c["viper_id"]: c["name"] for c in VIPER_VPS_CATEGORIES}
    names.update(VIPER_VOID_NAMES)
    norm = lambda s: re.sub(r"[^a-z0-9]", "", s.lower())  # noqa: E731
    for path in (os.path.join(viper, split, "classes.csv"), os.path.join(viper, "classes.csv")):
        if not os.path.isfile(path):
            continue
        with open(path, newline="") as f:
            rows = [[c.strip() for c in r] for r in csv.reader(f) if any(c.strip() for c in r)]
        if rows and not rows[0][0].isdigit() and any(w in " ".join(rows[0]).lower()
                                                     for w in ("name", "class", "id")):
            rows = rows[1:]  # header
        for i, row in enumerate(rows):
            if row[0].isdigit() and len(row) > 1:
                raw_id, name = int(row[0]), row[1]
            else:
                raw_id, name = i, row[0]
            if raw_id in names and norm(name) != norm(names[raw_id]):
                raise ConversionError(f"{path}: class {raw_id} is '{name}' but the VPS table "
                                      f"(vps_d2/data/categories.py) expects '{names[raw_id]}'")
        return path
    return None


def read_conditions(path: str) -> Dict[str, str]:
    """Sequence -> condition from a CSV: a sequence number, then a condition name, per row."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            cells = [c.strip() for c in row if c.strip()]
            if not cells or not cells[0].isdigit():
                continue  # header or blank
            cond = next((c.lower() for c in cells[1:] if c.lower() in CONDITIONS), None)
            if cond is None:
                raise ConversionError(f"{path}: row {row} names no condition of {CONDITIONS}")
            out[str(int(cells[0]))] = cond
    return out


def find_conditions(viper: str, split: str, path: Optional[str]) -> Tuple[str, Dict[str, str]]:
    candidates = [path] if path else [os.path.join(viper, s, n) for s in (split, "")
                                      for n in CONDITION_FILES]
    for p in candidates:
        if os.path.isfile(p):
            return p, read_conditions(p)
    raise ConversionError(
        f"--condition needs each sequence's condition, but {' / '.join(candidates)} does not "
        f"exist; give --conditions FILE (CSV rows: sequence, condition)")


def _list_frames(folder: str, seq: str, exts) -> Dict[str, str]:
    """frame string -> file name, for files ``<seq>_<frame><ext>``."""
    out = {}
    for name in os.listdir(folder):
        stem, ext = os.path.splitext(name)
        m = _FRAME_RE.match(stem)
        if ext.lower() in exts and m and m.group("seq") == seq:
            prev = out.get(m.group("frame"))
            rank = exts.index(ext.lower())
            if prev is None or rank < exts.index(os.path.splitext(prev)[1].lower()):
                out[m.group("frame")] = name
    return out


def plan_split(viper: str, split: str, condition: Optional[str] = None,
               conditions_csv: Optional[str] = None, flow: bool = False,
               out: str = "") -> List[Dict]:
    """Video plans of one split; every input is checked before anything is written."""
    root = require_dir(os.path.join(viper, split), f"the VIPER {split} folder")
    img = require_dir(os.path.join(root, "img"), f"the VIPER {split} frames (img/<seq>/)")
    cls = require_dir(os.path.join(root, "cls"), f"the VIPER {split} class labels (cls/<seq>/)")
    inst = require_dir(os.path.join(root, "inst"),
                       f"the VIPER {split} instance labels (inst/<seq>/)")
    sequences = sorted(d for d in os.listdir(img) if os.path.isdir(os.path.join(img, d)))
    if not sequences:
        raise ConversionError(f"{img} has no sequence folders")
    bad = [s for s in sequences if not s.isdigit()]
    if bad:
        raise ConversionError(f"{img}: sequence folder '{bad[0]}' is not a sequence number")
    if condition:
        where, conds = find_conditions(viper, split, conditions_csv)
        unknown = [s for s in sequences if str(int(s)) not in conds]
        if unknown:
            raise ConversionError(f"{where} gives no condition for sequence {unknown[0]}")
        sequences = [s for s in sequences if conds[str(int(s))] == condition]
        if not sequences:
            raise ConversionError(f"no {split} sequence is recorded in condition '{condition}' "
                                  f"(according to {where})")
    if len({int(s) for s in sequences}) != len(sequences):
        raise ConversionError(f"{img}: two sequence folders have the same number")
    plans, missing = [], []
    for seq in sequences:
        frames = _list_frames(os.path.join(img, seq), seq, IMAGE_EXTENSIONS)
        if not frames:
            raise ConversionError(
                f"{os.path.join(img, seq)} has no frames named {seq}_<frame>.jpg|png")
        if len(frames) >= FRAME_ID_BASE:
            raise ConversionError(f"sequence {seq} has {len(frames)} frames; at most "
                                  f"{FRAME_ID_BASE - 1} fit the frame ids")
        video = int(seq)
        plan = {"video": video, "frames": [], "annotated": []}
        for f, frame in enumerate(sorted(frames, key=int), 1):
            src = os.path.join(img, seq, frames[frame])
            ext = os.path.splitext(src)[1].lower()
            stem = f"{CITY}_{seq}_{frame}"
            entry = {"f": f, "src": src, "name": stem + ext, "extra": []}
            flow_src = os.path.join(root, "flow", seq, f"{seq}_{frame}.npz")
            if flow and os.path.isfile(flow_src):
                entry["extra"].append((flow_src, os.path.join(out, split, "flow", stem + ".npz")))
            plan["frames"].append(entry)
            labels = {k: os.path.join(d, seq, f"{seq}_{frame}.png") for k, d in (("cls", cls),
                                                                                   ("inst", inst))}
            for kind, path in labels.items():
                if not os.path.isfile(path):
                    missing.append(f"frame {src} has no {kind} label {path}")
            image_id = f"{video:04d}_{f:04d}_{stem}"
            plan["annotated"].append({"f": f, "image_id": image_id,
                                      "image_file_name": image_id + ext,
                                      "png_name": image_id + ".png", "inputs": labels})
        plans.append(plan)
    if missing:
        raise ConversionError(f"{len(missing)} label file(s) missing in {split}: {missing[0]}")
    return plans


def available_splits(viper: str) -> List[str]:
    return [s for s in SPLITS if os.path.isdir(os.path.join(viper, s, "img"))]


def convert(viper: str, out: str, splits: Optional[List[str]] = None,
            condition: Optional[str] = None, conditions_csv: Optional[str] = None,
            flow: bool = False, crowd: bool = False, link: str = "copy", strict: bool = False,
            workers: int = 1, quiet: bool = False,
            checkpoint_every: int = 25) -> Tuple[List[Dict], List[str]]:
    """Convert the given splits (default: those present); returns (summaries, notes)."""
    require_dir(viper, "the VIPER folder (with train/ and val/)")
    splits = splits or available_splits(viper)
    if not splits:
        raise ConversionError(f"{viper} has neither train/img nor val/img (expected raw VIPER)")
    notes = []
    plans = {}
    for split in splits:  # check every split first
        csv_path = check_classes_csv(viper, split)
        if csv_path is None:
            notes.append(f"note: no classes.csv in {viper} or {viper}/{split}; the class table of "
                         f"vps_d2/data/categories.py is used unchecked")
        plans[split] = plan_split(viper, split, condition, conditions_csv, flow, out)
    summaries = []
    for split in splits:
        ctx = SplitContext(
            dataset="viper_vps", out=out, split=split, categories=VIPER_VPS_CATEGORIES,
            label_fn=viper_labels, fingerprint={"converter": "viper", "crowd": crowd},
            link=link, crowd=crowd, strict=strict, quiet=quiet, checkpoint_every=checkpoint_every,
        )
        summaries.append(run_split(ctx, plans[split], workers))
    return summaries, notes
