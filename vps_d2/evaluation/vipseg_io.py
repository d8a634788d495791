"""VIPSeg's official files, as its preparation (``create_panoptic_video_labels.py``) writes the
ground truth and its evaluation scripts (``eval_vpq_vspw.py``, ``eval_stq_vspw.py``) read
predictions::

    ground truth   {"videos": [{"video_id", "images": [{"id", "file_name", ...}]}],
                    "annotations": [{"video_id", "annotations": [{"image_id", "file_name",
                                                                  "segments_info": [...]}]}],
                    "categories": [{"id": 0..123, "name", "isthing", "color"}]}
                   <gt-dir>/<video_id>/<file_name>          RGB-encoded ids (0 = void)
    predictions    {"annotations": [{"video_id", "annotations": [{"segments_info", ...}]}]}
                   <pred-dir>/<video_id>/<ground-truth file_name>

As in the official scripts, a prediction PNG has the ground-truth frame's file name and a video's
predicted annotations are its frames in order; when every one has an ``image_id`` (or a
``file_name``) they are matched by it instead.
"""

import logging
import os
from typing import Dict, List, Sequence, Tuple

from . import submission_io as sio

logger = logging.getLogger(__name__)

__all__ = ["load_vipseg_videos"]


def _per_video(obj: Dict, path: str, what: str) -> Dict[str, List[Dict]]:
    """``annotations`` of a VIPSeg JSON as video_id -> list of frame annotations."""
    if not isinstance(obj, dict) or not isinstance(obj.get("annotations"), list):
        raise sio.EvaluationInputError(f"{path}: expected an object with an 'annotations' list")
    out = {}
    for i, v in enumerate(obj["annotations"]):
        v = v if isinstance(v, dict) else {}
        if "video_id" not in v or not isinstance(v.get("annotations"), list):
            raise sio.EvaluationInputError(
                f"{path}: annotation {i} is not a video entry, expected {{'video_id', "
                f"'annotations': [...]}} ({what})"
            )
        out[str(v["video_id"])] = v["annotations"]
    return out


def _stem(name) -> str:
    return os.path.splitext(os.path.basename(str(name)))[0]


def _match(
    gt_frames: Sequence[Dict], preds: Sequence[Dict], video: str, pred_json: str
) -> List[Dict]:
    """The predicted annotation of each ground-truth frame of a video."""
    for key in ("image_id", "file_name"):
        if preds and all(isinstance(p, dict) and key in p for p in preds):
            by_key = {_stem(p[key]): p for p in preds}
            missing = [g["file_name"] for g in gt_frames if _stem(g[key]) not in by_key]
            if missing:
                raise sio.EvaluationInputError(
                    f"{pred_json}: video '{video}' has no prediction for frame '{missing[0]}'"
                )
            return [by_key[_stem(g[key])] for g in gt_frames]
    if len(preds) != len(gt_frames):
        raise sio.EvaluationInputError(
            f"{pred_json}: video '{video}' has {len(preds)} predicted frames for "
            f"{len(gt_frames)} ground-truth frames; without image_id/file_name they are paired "
            "by order, so the counts must be equal"
        )
    return list(preds)


def load_vipseg_videos(
    gt_json: str, gt_dir: str, pred_json: str, pred_dir: str
) -> Tuple[List[List[Tuple[str, str, list, str, list]]], List[Dict]]:
    """Read and pair VIPSeg's ground truth and a submission.

    Returns:
        (per video, per frame ``(image id, gt PNG, gt segments (id, class, iscrowd), pred PNG,
        pred segments (id, class))`` in the ground truth's order; the categories).
    """
    gt = sio.read_json(gt_json, "VIPSeg ground-truth JSON (panoptic_gt_VIPSeg_<split>.json)")
    for field in ("videos", "annotations", "categories"):
        if not isinstance(gt, dict) or field not in gt:
            raise sio.EvaluationInputError(
                f"{gt_json}: no '{field}' field, expected VIPSeg's per-video panoptic JSON"
            )
    cmap, categories = sio.dataset_category_maps(gt["categories"], gt_json)
    gt_anns = _per_video(gt, gt_json, "ground truth")
    pred_anns = _per_video(
        sio.read_json(pred_json, "submission's pred.json"), pred_json, "prediction"
    )
    videos = []
    for v in gt["videos"]:
        if not isinstance(v, dict) or "video_id" not in v:
            raise sio.EvaluationInputError(f"{gt_json}: a 'videos' entry has no 'video_id'")
        video = str(v["video_id"])
        frames = gt_anns.get(video)
        if frames is None:
            raise sio.EvaluationInputError(f"{gt_json}: video '{video}' has no annotations")
        for f in frames:
            if "file_name" not in f:
                raise sio.EvaluationInputError(
                    f"{gt_json}: a frame of video '{video}' has no 'file_name'"
                )
            f.setdefault("image_id", _stem(f["file_name"]))
        if video not in pred_anns:
            raise sio.EvaluationInputError(f"{pred_json}: no prediction for video '{video}'")
        preds = _match(frames, pred_anns[video], video, pred_json)
        jobs = []
        for g, p in zip(frames, preds):
            image_id = f"{video}/{_stem(g['file_name'])}"
            if not isinstance(p, dict) or "segments_info" not in p:
                raise sio.EvaluationInputError(
                    f"{pred_json}: frame '{image_id}' has no 'segments_info'"
                )
            jobs.append(
                (
                    image_id,
                    os.path.join(gt_dir, video, g["file_name"]),
                    sio.gt_segments(g, cmap, gt_json, image_id),
                    os.path.join(pred_dir, video, g["file_name"]),
                    sio.pred_segments(p, cmap, pred_json, image_id),
                )
            )
        videos.append(jobs)
    extra = sorted(set(pred_anns) - {str(v["video_id"]) for v in gt["videos"]})
    if extra:
        logger.warning(f"{pred_json}: {len(extra)} video(s) not in the ground truth, e.g. "
                       f"'{extra[0]}'; ignored")
    return videos, categories

