"""Cityscapes-VPS submission files: ``pred.json`` + ``pan_pred/<image_id>.png`` (facts §4.4).

Layout written and read here::

    pred.json        {"annotations": [{"image_id", "file_name", "segments_info":
                                       [{"id", "category_id", "iscrowd", "area", "bbox"}]}]}
    pan_pred/<image_id>.png   RGB-encoded segment ids (id = R + 256·G + 256²·B, 0 = void)

``category_id`` is the dataset's category id. Reading also accepts the released evaluator's form,
whose annotations have no ``image_id``: they are paired with the ground-truth frames by order (and
the PNG is ``<gt image id>.png``), with a warning.

Every problem with a submission raises :class:`EvaluationInputError` with one line naming the file
and the image/segment id.
"""

import json
import logging
import os
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
from scipy import ndimage

from ..utils.errors import UserError
from ..utils.file_io import atomic_path, atomic_write_json
from ..utils.panoptic_ids import id_to_rgb
from .png_io import PNGFormatError, decode_rgb_png

logger = logging.getLogger(__name__)

PRED_JSON = "pred.json"
PRED_DIR = "pan_pred"


class EvaluationInputError(UserError):
    """A malformed submission or ground truth; the message is one line naming file and id."""


def decode_panoptic_png(path: str) -> np.ndarray:
    """Decode an RGB panoptic PNG into HxW uint32 ids ``R + 256·G + 65536·B`` (:mod:`.png_io`)."""
    try:
        return decode_rgb_png(path, "rgb")
    except PNGFormatError as e:
        raise EvaluationInputError(
            f"{e.path}: {e.reason}, expected an 8-bit RGB panoptic PNG"
        ) from None


def read_json(path: str, what: str) -> dict:
    """Load a JSON file, turning a missing or invalid file into one clear line."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise EvaluationInputError(f"{path}: file not found (expected the {what})") from None
    except json.JSONDecodeError as e:
        raise EvaluationInputError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def segments_with_boxes(ids: np.ndarray, segments: Sequence[Tuple[int, int]]) -> List[Dict]:
    """``segments_info`` entries (area, bbox [x, y, w, h]) for the listed ids present in ``ids``.

    Raises ValueError if the map has an id that is not listed.
    """
    listed = np.array(sorted({int(i) for i, _ in segments if int(i) != 0}), dtype=np.int64)
    cat = {int(i): int(c) for i, c in reversed(list(segments))}
    if listed.size:
        pos_c = np.minimum(np.searchsorted(listed, ids), listed.size - 1)
        known = (listed[pos_c] == ids) | (ids == 0)
    else:
        pos_c, known = np.zeros(ids.shape, np.int64), ids == 0
    if not known.all():
        raise ValueError(f"segment id {int(ids[~known][0])} is on the map but in no segments_info")
    labels = np.where(ids == 0, 0, pos_c + 1).astype(np.int32)
    areas = np.bincount(labels.ravel(), minlength=listed.size + 1)
    out = []
    for k, sl in enumerate(ndimage.find_objects(labels, max_label=listed.size)):
        if sl is None:
            continue
        sid = int(listed[k])
        ys, xs = sl
        out.append(
            {
                "id": sid,
                "category_id": cat[sid],
                "iscrowd": 0,
                "area": int(areas[k + 1]),
                "bbox": [xs.start, ys.start, xs.stop - xs.start, ys.stop - ys.start],
            }
        )
    return out


class SubmissionWriter:
    """Writes a submission folder frame by frame (PNGs at once, ``pred.json`` on :meth:`close`).

    Args:
        out_dir: the folder that gets ``pred.json`` and ``pan_pred/``.
    """

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.annotations: List[Dict] = []
        os.makedirs(os.path.join(out_dir, PRED_DIR), exist_ok=True)

    def add(self, image_id: str, ids: np.ndarray, segments: Sequence[Tuple[int, int]]) -> None:
        """Write one frame: ``ids`` (HxW segment ids), ``segments`` as (id, dataset category id)."""
        infos = segments_with_boxes(np.asarray(ids, dtype=np.int64), segments)
        file_name = f"{image_id}.png"
        path = os.path.join(self.out_dir, PRED_DIR, file_name)
        with atomic_path(path) as tmp:
            if not cv2.imwrite(tmp, cv2.cvtColor(id_to_rgb(ids), cv2.COLOR_RGB2BGR)):
                raise OSError(f"{path}: could not write the PNG")
        self.annotations.append(
            {"image_id": image_id, "file_name": file_name, "segments_info": infos}
        )

    def close(self) -> str:
        """Write ``pred.json``; returns its path."""
        path = os.path.join(self.out_dir, PRED_JSON)
        atomic_write_json(path, {"annotations": self.annotations})
        return path


def gt_frame_order(image_id: str, where: str) -> Tuple[int, int, str]:
    """``"0005_0025_frankfurt_000000_001736"`` -> (video 5, frame 25, rest), to group and sort."""
    parts = str(image_id).split("_", 2)
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit():
        raise EvaluationInputError(
            f"{where}: image id '{image_id}' is not of the form VVVV_FFFF_<name> "
            "(video, frame number)"
        )
    return int(parts[0]), int(parts[1]), parts[2] if len(parts) > 2 else ""


def pair_predictions(
    gt_anns: Sequence[Dict], pred_anns: Sequence[Dict], pred_json: str, pred_dir: str
) -> List[Tuple[Dict, str]]:
    """Pair every ground-truth annotation with its prediction and PNG path.

    Args:
        gt_anns: ground-truth annotations, in the ground-truth file's order.
        pred_anns: ``pred.json`` annotations.
        pred_json, pred_dir: paths, for messages and the PNGs.

    Returns:
        list of (pred annotation, PNG path), aligned with ``gt_anns``.
    """
    for i, a in enumerate(pred_anns):
        if not isinstance(a, dict) or "segments_info" not in a:
            raise EvaluationInputError(f"{pred_json}: annotation {i} has no 'segments_info'")
    with_id = ["image_id" in a for a in pred_anns]
    if pred_anns and not any(with_id):
        logger.warning(
            f"{pred_json}: annotations have no 'image_id' (released form); pairing them with the "
            "ground-truth frames by order"
        )
        if len(pred_anns) != len(gt_anns):
            raise EvaluationInputError(
                f"{pred_json}: {len(pred_anns)} annotations without image_id for "
                f"{len(gt_anns)} ground-truth frames; they can only be paired by order if equal"
            )
        return [
            (p, os.path.join(pred_dir, f"{g['image_id']}.png")) for g, p in zip(gt_anns, pred_anns)
        ]
    if not all(with_id):
        raise EvaluationInputError(
            f"{pred_json}: annotation {with_id.index(False)} has no 'image_id'"
        )
    by_id: Dict[str, Dict] = {}
    for a in pred_anns:
        key = str(a["image_id"])
        if key in by_id:
            raise EvaluationInputError(f"{pred_json}: image '{key}' has more than one annotation")
        by_id[key] = a
    gt_ids = {str(g["image_id"]) for g in gt_anns}
    extra = sorted(set(by_id) - gt_ids)
    if extra:
        logger.warning(
            f"{pred_json}: {len(extra)} annotation(s) for images not in the ground truth, "
            f"e.g. '{extra[0]}'; ignored"
        )
    out = []
    for g in gt_anns:
        key = str(g["image_id"])
        if key not in by_id:
            raise EvaluationInputError(f"{pred_json}: no prediction for image '{key}'")
        a = by_id[key]
        out.append((a, os.path.join(pred_dir, a.get("file_name") or f"{key}.png")))
    return out


def pred_segments(
    ann: Dict, category_map: Dict[int, int], pred_json: str, image_id: str
) -> List[Tuple[int, int]]:
    """``segments_info`` of a prediction as (id, contiguous class), checking ids and categories."""
    out = []
    for s in ann["segments_info"]:
        if not isinstance(s, dict) or "id" not in s or "category_id" not in s:
            raise EvaluationInputError(
                f"{pred_json}: a segment of image '{image_id}' lacks 'id' or 'category_id'"
            )
        sid, cat = int(s["id"]), s["category_id"]
        if sid == 0:
            raise EvaluationInputError(f"{pred_json}: image '{image_id}' lists segment id 0 (void)")
        if cat not in category_map:
            raise EvaluationInputError(
                f"{pred_json}: segment {sid} of image '{image_id}' has unknown category_id {cat}"
            )
        out.append((sid, category_map[cat]))
    return out


def gt_segments(
    ann: Dict, category_map: Dict[int, int], gt_json: str, image_id: str
) -> List[Tuple[int, int, int]]:
    """Ground-truth ``segments_info`` as (id, contiguous class, iscrowd)."""
    if "segments_info" not in ann:
        raise EvaluationInputError(
            f"{gt_json}: annotation of image '{image_id}' has no 'segments_info'"
        )
    out = []
    for s in ann["segments_info"]:
        if "id" not in s:
            raise EvaluationInputError(f"{gt_json}: a segment of image '{image_id}' has no 'id'")
        cat = s.get("category_id")
        if cat not in category_map:
            raise EvaluationInputError(
                f"{gt_json}: segment {s.get('id')} of image '{image_id}' has unknown "
                f"category_id {cat}"
            )
        out.append((int(s["id"]), category_map[cat], int(s.get("iscrowd", 0))))
    return out


def dataset_category_maps(
    categories: Sequence[Dict], where: str
) -> Tuple[Dict[int, int], List[Dict]]:
    """Dataset category id -> contiguous class (the order of ``categories``), and the categories."""
    if not categories:
        raise EvaluationInputError(f"{where}: no 'categories'")
    for c in categories:
        if not isinstance(c, dict) or "id" not in c or "isthing" not in c:
            raise EvaluationInputError(
                f"{where}: category {c} lacks 'id' or 'isthing', expected both"
            )
    cats = [dict(c) for c in categories]
    return {c["id"]: i for i, c in enumerate(cats)}, cats


def load_gt(gt_json: str, gt_dir: str) -> Tuple[List[Dict], List[Dict], Dict[int, int]]:
    """Ground truth of the offline scorer.

    Returns:
        (annotations in file order, each with ``image_id``, ``png`` and ``segments`` (contiguous
        classes); the categories; the dataset id -> contiguous class map).
    """
    gt = read_json(gt_json, "ground-truth panoptic JSON")
    for field in ("annotations", "categories"):
        if field not in gt:
            raise EvaluationInputError(f"{gt_json}: no '{field}' field")
    cmap, cats = dataset_category_maps(gt["categories"], gt_json)
    anns = []
    for a in gt["annotations"]:
        if "image_id" not in a or "file_name" not in a:
            raise EvaluationInputError(f"{gt_json}: an annotation lacks 'image_id' or 'file_name'")
        image_id = str(a["image_id"])
        anns.append(
            {
                "image_id": image_id,
                "png": os.path.join(gt_dir, a["file_name"]),
                "segments": gt_segments(a, cmap, gt_json, image_id),
            }
        )
    return anns, cats, cmap


def group_videos(anns: Sequence[Dict], where: str) -> List[List[int]]:
    """Indices of ``anns`` grouped by video and ordered by frame number (from the image ids)."""
    keyed: Dict[int, List[Tuple[int, str, int]]] = {}
    for i, a in enumerate(anns):
        video, frame, rest = gt_frame_order(a["image_id"], where)
        keyed.setdefault(video, []).append((frame, rest, i))
    return [[i for _, _, i in sorted(keyed[v])] for v in sorted(keyed)]


def read_pred_annotations(pred_json: str) -> List[Dict]:
    pred = read_json(pred_json, "submission's pred.json")
    if not isinstance(pred, dict) or not isinstance(pred.get("annotations"), list):
        raise EvaluationInputError(f"{pred_json}: expected an object with an 'annotations' list")
    return pred["annotations"]


def check_size(pred: np.ndarray, gt: np.ndarray, pred_png: str, image_id: str) -> None:
    if pred.shape != gt.shape:
        raise EvaluationInputError(
            f"{pred_png}: size {pred.shape[1]}x{pred.shape[0]} differs from the ground truth "
            f"{gt.shape[1]}x{gt.shape[0]} (image '{image_id}')"
        )
