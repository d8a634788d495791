"""Loader of the Cityscapes-VPS video-panoptic format (SPEC §3, §9), shared by every dataset.

Layout of a prepared split under its dataset root::

    im_all_info_<split>_city_vps.json    every frame: {id = video*10000 + f (f = 1..T), file_name, width, height}
    panoptic_gt_<split>_city_vps.json    annotated frames: images {id "VVVV_FFFF_<city>_<seq>_<frame>", file_name},
                                         annotations {image_id, file_name, segments_info}, categories
    <split>/img_all/<city>_<seq>_<frame>_leftImg8bit.png    all frames
    <split>/panoptic_video/<annotation file_name>           RGB-encoded segment ids (0 = void)

An annotated frame is matched to its raw frame by the video number ``VVVV`` and the stem
``<city>_<seq>_<frame>`` of its image id.
"""
import json
import logging
import os
from collections import defaultdict
from typing import Dict, List, Optional

from detectron2.data import DatasetCatalog, MetadataCatalog

from ...utils.errors import UserError
from ..categories import category_metadata

logger = logging.getLogger(__name__)

RAW_FRAME_SUFFIX = "_leftImg8bit.png"
CATEGORY_KEYS = tuple(category_metadata([]))  # metadata keys derived from a category table
FRAME_ID_BASE = 10000  # im_all_info ids are video * FRAME_ID_BASE + frame number
FLOW_SUFFIX = "_flow.npy"  # <split>/flow/<frame stem>_flow.npy: ground-truth flow (synthetic --flow)


def _read_json(path: str, what: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}); expected the {what}") from e


def _require(record: dict, field: str, path: str, where: str):
    if field not in record:
        raise UserError(f"{path}: {where} has no '{field}' field")
    return record[field]


def annotated_image_stem(image_id: str, path: str) -> tuple:
    """``"0005_0025_frankfurt_000000_001736"`` -> ``(5, "frankfurt_000000_001736")``."""
    parts = image_id.split("_", 2)
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise UserError(
            f"{path}: image id '{image_id}' is not of the form VVVV_FFFF_<city>_<seq>_<frame>"
        )
    return int(parts[0]), parts[2]


def raw_frame_stem(file_name: str) -> str:
    """``"frankfurt_000000_001736_leftImg8bit.png"`` -> ``"frankfurt_000000_001736"``."""
    base = os.path.basename(file_name)
    return base[: -len(RAW_FRAME_SUFFIX)] if base.endswith(RAW_FRAME_SUFFIX) else os.path.splitext(base)[0]


def _segments(ann: dict, path: str, meta: Dict) -> List[Dict]:
    """segments_info with category ids made contiguous (semantic channel) and ``isthing`` added."""
    image_id = ann.get("image_id", "?")
    segs = _require(ann, "segments_info", path, f"annotation of image '{image_id}'")
    sem_map = meta["stuff_dataset_id_to_contiguous_id"]
    thing_ids = meta["thing_dataset_id_to_contiguous_id"]
    out = []
    for s in segs:
        for field in ("id", "category_id"):
            _require(s, field, path, f"a segment of image '{image_id}'")
        cat = s["category_id"]
        if cat not in sem_map:
            raise UserError(
                f"{path}: segment {s['id']} of image '{image_id}' has unknown category_id {cat}; "
                f"expected one of {sorted(sem_map)}"
            )
        out.append(
            {
                "id": int(s["id"]),
                "category_id": sem_map[cat],
                "isthing": cat in thing_ids,
                "iscrowd": int(s.get("iscrowd", 0)),
                "area": int(s.get("area", 0)),
            }
        )
    return out


def load_cityscapes_vps_json(
    all_info_json: str,
    image_root: str,
    panoptic_json: Optional[str],
    panoptic_root: Optional[str],
    meta: Dict,
) -> List[Dict]:
    """Load a video-panoptic split as one dict per video.

    Args:
        all_info_json: ``im_all_info_<split>_city_vps.json`` (every frame).
        image_root: folder of the frames (``<split>/img_all``).
        panoptic_json: ``panoptic_gt_<split>_city_vps.json``, or None for a split without labels.
        panoptic_root: folder of the panoptic PNGs (``<split>/panoptic_video``).
        meta: the dataset's metadata (``stuff_dataset_id_to_contiguous_id``,
            ``thing_dataset_id_to_contiguous_id``).

    Returns:
        list[dict], videos in id order, each with ``video_id`` (int), ``height``, ``width`` and
        per-frame lists in temporal order: ``file_names``, ``frame_ids`` (video*10000 + f),
        ``annotated`` (bool), ``image_ids`` (annotated image id or None), ``pan_seg_file_names``
        (path or None), ``segments_infos`` (list of segments or None) and ``flow_file_names``
        (the ground-truth flow to the previous frame, ``<split>/flow/<frame>_flow.npy``, of a
        synthetic split prepared with ``--flow``; None where there is none). Segment
        ``category_id`` is the contiguous semantic id; ``isthing`` is added.
    """
    info = _read_json(all_info_json, "list of all frames (im_all_info)")
    images = _require(info, "images", all_info_json, "the file")
    videos: Dict[int, List[dict]] = defaultdict(list)
    for img in images:
        for field in ("id", "file_name", "height", "width"):
            _require(img, field, all_info_json, f"image {img.get('id', img)}")
        videos[int(img["id"]) // FRAME_ID_BASE].append(img)

    annotated: Dict[tuple, dict] = {}
    if panoptic_json is not None:
        pan = _read_json(panoptic_json, "panoptic ground truth")
        anns = {_require(a, "image_id", panoptic_json, "an annotation"): a
                for a in _require(pan, "annotations", panoptic_json, "the file")}
        for img in _require(pan, "images", panoptic_json, "the file"):
            image_id = _require(img, "id", panoptic_json, "an image entry")
            if image_id not in anns:
                raise UserError(f"{panoptic_json}: image '{image_id}' has no annotation")
            ann = anns[image_id]
            _require(ann, "file_name", panoptic_json, f"annotation of image '{image_id}'")
            annotated[annotated_image_stem(image_id, panoptic_json)] = {
                "image_id": image_id,
                "pan_seg_file_name": os.path.join(panoptic_root, ann["file_name"]),
                "segments_info": _segments(ann, panoptic_json, meta),
            }

    flow_root = os.path.join(os.path.dirname(image_root), "flow")
    has_flow = os.path.isdir(flow_root)
    dicts = []
    matched = 0
    for vid in sorted(videos):
        frames = sorted(videos[vid], key=lambda im: int(im["id"]) % FRAME_ID_BASE)
        record = {
            "video_id": vid,
            "height": int(frames[0]["height"]),
            "width": int(frames[0]["width"]),
            "file_names": [],
            "frame_ids": [],
            "annotated": [],
            "image_ids": [],
            "pan_seg_file_names": [],
            "segments_infos": [],
            "flow_file_names": [],
        }
        for im in frames:
            ann = annotated.get((vid, raw_frame_stem(im["file_name"])))
            matched += ann is not None
            record["file_names"].append(os.path.join(image_root, im["file_name"]))
            record["frame_ids"].append(int(im["id"]))
            record["annotated"].append(ann is not None)
            record["image_ids"].append(ann["image_id"] if ann else None)
            record["pan_seg_file_names"].append(ann["pan_seg_file_name"] if ann else None)
            record["segments_infos"].append(ann["segments_info"] if ann else None)
            flow = os.path.join(flow_root, im["file_name"][: -len(RAW_FRAME_SUFFIX)] + FLOW_SUFFIX)
            record["flow_file_names"].append(flow if has_flow and os.path.isfile(flow) else None)
        dicts.append(record)
    if matched != len(annotated):
        found = {(d["video_id"], raw_frame_stem(f)) for d in dicts for f in d["file_names"]}
        missing = sorted(k for k in annotated if k not in found)
        vid, stem = missing[0]
        raise UserError(
            f"{panoptic_json}: {len(missing)} annotated image(s) have no frame in {all_info_json}, "
            f"e.g. video {vid} frame '{stem}{RAW_FRAME_SUFFIX}'"
        )
    logger.info(
        f"Loaded {len(dicts)} videos, {sum(len(d['file_names']) for d in dicts)} frames "
        f"({matched} annotated) from {all_info_json}"
    )
    return dicts


def split_paths(root: str, split: str) -> Dict[str, str]:
    """Paths of one split of a dataset in the unified format."""
    return {
        "all_info_json": os.path.join(root, f"im_all_info_{split}_city_vps.json"),
        "image_root": os.path.join(root, split, "img_all"),
        "panoptic_json": os.path.join(root, f"panoptic_gt_{split}_city_vps.json"),
        "panoptic_root": os.path.join(root, split, "panoptic_video"),
    }


def _is_video_panoptic(name: str) -> bool:
    return MetadataCatalog.get(name).get("evaluator_type") == "vpq"


def video_panoptic_metadata(name: str, key: str):
    """The metadata of ``name``, checked to be a registered video panoptic dataset; ``key`` is the
    config key that named it (e.g. ``DATASETS.TRAIN``), for the one-line error of a wrong name."""
    if name not in DatasetCatalog.list() or not _is_video_panoptic(name):
        known = [n for n in DatasetCatalog.list() if _is_video_panoptic(n)]
        raise UserError(
            f"{key}: '{name}' is not a registered video panoptic dataset, expected one of {known}"
        )
    return MetadataCatalog.get(name)


def register_cityscapes_vps(
    name: str, root: str, split: str, meta: Dict, prepare_hint: str, has_labels: bool = True
) -> None:
    """The ``root`` + ``split`` form of :func:`~vps_d2.data.datasets.register_vps_dataset`.

    Args:
        name: dataset name, e.g. ``synthetic_vps_train``.
        root: the dataset's folder (e.g. ``$DETECTRON2_DATASETS/synthetic_vps``).
        split: ``train`` / ``val`` / ``test``.
        meta: ``categories`` (a category table), optional ``annotation_stride`` and evaluation
            options; the other category keys are derived from the table.
        prepare_hint: the command that prepares this split, quoted in the error.
        has_labels: False for a split without ground truth (Cityscapes-VPS test).
    """
    from .register import register_vps_dataset

    paths = split_paths(root, split)
    extra = {k: v for k, v in meta.items() if k not in CATEGORY_KEYS and k != "annotation_stride"}
    register_vps_dataset(
        name,
        paths["all_info_json"],
        paths["panoptic_json"] if has_labels else None,
        paths["image_root"],
        paths["panoptic_root"],
        categories=meta.get("categories"),
        annotation_stride=meta.get("annotation_stride"),
        prepare_hint=prepare_hint,
        **extra,
    )
