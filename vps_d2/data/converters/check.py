"""Validation of a prepared split (the ``--check`` mode of the prepare scripts).

Checks, for ``<root>`` and ``<split>``:

* ``im_all_info_<split>_city_vps.json``: every listed frame exists in ``<split>/img_all/`` with the
  listed width and height; ids are unique and of the form video*10000 + f (f >= 1);
* ``panoptic_gt_<split>_city_vps.json`` (splits with labels): the categories are the dataset's
  table; every image has one annotation and matches a listed frame; every annotation's PNG exists
  and has the image's size; the ids in the PNG are exactly the listed segment ids (void 0 aside),
  with no duplicates; each segment's category is known, its area (and bbox, if given) match the
  PNG, only things are crowd; within a video an id keeps its category;
* finally the split loads through ``load_cityscapes_vps_json``.

It reports counts of videos, frames, annotated frames, segments per class, thing tracks and crowd
segments, and every problem found (the first few are printed).
"""
import os
from collections import Counter, defaultdict
from typing import Callable, Dict, List, Sequence

from ..categories import category_metadata
from ..datasets.cityscapes_vps import (
    FRAME_ID_BASE,
    annotated_image_stem,
    load_cityscapes_vps_json,
    raw_frame_stem,
    split_paths,
)
from ..panoptic_io import read_panoptic_png
from .common import ConversionError, dense_labels, image_size, read_json, region_stats

MAX_PROBLEMS = 1000


def check_split(root: str, split: str, categories: List[Dict], has_labels: bool = True) -> Dict:
    """Validate one prepared split; returns a report with ``problems`` (empty when it is valid)."""
    paths = split_paths(root, split)
    problems: List[str] = []

    def problem(msg: str) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append(msg)

    info = read_json(paths["all_info_json"], f"frame list of split '{split}'")
    frames = info.get("images") if isinstance(info, dict) else None
    if not isinstance(frames, list):
        raise ConversionError(f"{paths['all_info_json']}: expected an object with an 'images' list")
    videos = defaultdict(dict)  # video -> {stem: (width, height)}
    seen_ids = set()
    for img in frames:
        fid, name = img.get("id"), img.get("file_name")
        if not isinstance(fid, int) or name is None or fid % FRAME_ID_BASE == 0:
            problem(f"{paths['all_info_json']}: bad frame entry {img}")
            continue
        if fid in seen_ids:
            problem(f"{paths['all_info_json']}: frame id {fid} is listed twice")
        seen_ids.add(fid)
        path = os.path.join(paths["image_root"], name)
        size = (img.get("width"), img.get("height"))
        if not os.path.exists(path):
            problem(f"frame {path} is missing")
        elif image_size(path) != size:
            problem(f"frame {path} is {image_size(path)} but listed as {size}")
        videos[fid // FRAME_ID_BASE][raw_frame_stem(name)] = size
    report = {"split": split, "videos": len(videos), "frames": len(frames), "annotated_frames": 0,
              "segments_per_class": {}, "thing_tracks": 0, "crowd_segments": 0, "extra_files": 0,
              "problems": problems}
    if has_labels:
        _check_labels(paths, categories, videos, report, problem)
    if not problems:
        if not has_labels:
            paths = dict(paths, panoptic_json=None, panoptic_root=None)
        try:
            load_cityscapes_vps_json(meta=category_metadata(categories), **paths)
        except (ValueError, OSError) as e:
            problem(f"the loader fails: {e}")
    return report


def _check_labels(paths, categories, videos, report, problem) -> None:
    pan_path = paths["panoptic_json"]
    pan = read_json(pan_path, "panoptic ground truth")
    table = {c["id"]: c for c in categories}
    listed = {c.get("id") for c in pan.get("categories", [])}
    if listed != set(table):
        problem(f"{pan_path}: categories {sorted(listed, key=str)} are not the table's "
                f"{sorted(table)}")
    anns = {}
    for a in pan.get("annotations", []):
        if a.get("image_id") in anns:
            problem(f"{pan_path}: image {a.get('image_id')} has two annotations")
        anns[a.get("image_id")] = a
    image_ids = [im.get("id") for im in pan.get("images", [])]
    for extra in sorted(set(anns) - set(image_ids), key=str):
        problem(f"{pan_path}: annotation of image {extra} has no image entry")
    per_class = Counter()
    tracks, crowd = set(), 0
    categories_of_id = defaultdict(dict)  # video -> id -> category
    referenced = set()
    for img in pan.get("images", []):
        image_id = img.get("id")
        try:
            video, stem = annotated_image_stem(str(image_id), pan_path)
        except ValueError as e:
            problem(str(e))
            continue
        if stem not in videos.get(video, {}):
            problem(f"{pan_path}: image {image_id} matches no frame of video {video} in "
                    f"{paths['all_info_json']}")
        ann = anns.get(image_id)
        if ann is None:
            problem(f"{pan_path}: image {image_id} has no annotation")
            continue
        png = os.path.join(paths["panoptic_root"], ann.get("file_name", ""))
        referenced.add(ann.get("file_name"))
        if not os.path.isfile(png):
            problem(f"panoptic PNG {png} of image {image_id} is missing")
            continue
        try:
            ids = read_panoptic_png(png)
        except ValueError as e:
            problem(str(e))
            continue
        report["annotated_frames"] += 1
        if (ids.shape[1], ids.shape[0]) != (img.get("width"), img.get("height")):
            problem(f"{png} is {ids.shape[1]}x{ids.shape[0]} but image {image_id} is listed as "
                    f"{img.get('width')}x{img.get('height')}")
        values, index, _ = dense_labels(ids)
        areas, boxes = region_stats(index, len(values))
        stats = {v: (a, b) for v, a, b in zip(values.tolist(), areas.tolist(), boxes.tolist()) if v}
        segs = ann.get("segments_info", [])
        seg_ids = [s.get("id") for s in segs]
        dup = [i for i, n in Counter(seg_ids).items() if n > 1]
        if dup:
            problem(f"{png}: segment id {dup[0]} is listed twice for image {image_id}")
        unlisted = sorted(set(stats) - set(seg_ids))
        if unlisted:
            problem(f"{png}: id {unlisted[0]} is in the PNG but not in segments_info "
                    f"({len(unlisted)} such)")
        absent = sorted(set(seg_ids) - set(stats), key=str)
        if absent:
            problem(f"{pan_path}: segment {absent[0]} of image {image_id} is not in {png} "
                    f"({len(absent)} such)")
        for s in segs:
            cat = s.get("category_id")
            if cat not in table:
                problem(f"{pan_path}: segment {s.get('id')} of image {image_id} has unknown "
                        f"category {cat}")
                continue
            per_class[cat] += 1
            if s.get("iscrowd", 0):
                crowd += 1
                if not table[cat]["isthing"]:
                    problem(f"{pan_path}: stuff segment {s.get('id')} of image {image_id} is crowd")
            elif table[cat]["isthing"]:
                tracks.add((video, s.get("id")))
            if categories_of_id[video].setdefault(s.get("id"), cat) != cat:
                problem(f"{pan_path}: id {s.get('id')} is category "
                        f"{categories_of_id[video][s.get('id')]} and {cat} in video {video}")
            if s.get("id") in stats:
                area, box = stats[s.get("id")]
                if s.get("area") != area:
                    problem(f"{pan_path}: segment {s.get('id')} of image {image_id} has area "
                            f"{s.get('area')} but {area} pixels in {png}")
                if "bbox" in s and list(s["bbox"]) != box:
                    problem(f"{pan_path}: segment {s.get('id')} of image {image_id} has bbox "
                            f"{s['bbox']} but {box} in {png}")
    if os.path.isdir(paths["panoptic_root"]):
        report["extra_files"] = len(set(os.listdir(paths["panoptic_root"])) - referenced)
    names = {c["id"]: c["name"] for c in categories}
    report["segments_per_class"] = {names[c]: per_class[c] for c in table}
    report["thing_tracks"] = len(tracks)
    report["crowd_segments"] = crowd


def format_report(dataset: str, r: Dict, shown: int = 10) -> str:
    lines = [f"{dataset} {r['split']}: {r['videos']} videos, {r['frames']} frames, "
             f"{r['annotated_frames']} annotated, {r['thing_tracks']} thing tracks, "
             f"{r['crowd_segments']} crowd segments"]
    if r["annotated_frames"]:
        lines.append("  segments per class: " + ", ".join(
            f"{n} {k}" for k, n in r["segments_per_class"].items()))
    if r["extra_files"]:
        lines.append(f"  note: {r['extra_files']} file(s) in panoptic_video/ are not in the JSON")
    if r["problems"]:
        more = len(r["problems"]) - shown
        lines.append(f"  {len(r['problems'])} problem(s):")
        lines += [f"  - {p}" for p in r["problems"][:shown]]
        if more > 0:
            lines.append(f"  ... and {more} more")
    else:
        lines.append("  OK")
    return "\n".join(lines)


def prepared_splits(root: str, splits) -> List[str]:
    return [s for s in splits if os.path.isfile(split_paths(root, s)["all_info_json"])]


def check_prepared(root: str, dataset: str, splits: Sequence[str], categories: List[Dict],
                   has_labels: Callable[[str], bool] = lambda split: True) -> int:
    """The ``--check`` mode of a prepare script: check and report every prepared split of ``splits``
    in ``root``; 1 if any has a problem, else 0. A missing folder or no prepared split is a
    ConversionError."""
    if not os.path.isdir(root):
        raise ConversionError(f"{root} is not a folder (expected a prepared {dataset})")
    present = prepared_splits(root, splits)
    if not present:
        raise ConversionError(f"{root} has no im_all_info_<split>_city_vps.json: nothing to check")
    bad = 0
    for split in present:
        report = check_split(root, split, categories, has_labels=has_labels(split))
        print(format_report(dataset, report))
        bad += bool(report["problems"])
    return 1 if bad else 0
