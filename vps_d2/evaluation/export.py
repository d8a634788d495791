"""Predictions written in each benchmark's official layout (issue 14 item 4), so that they can be
submitted or scored by the official tools (and by ``python -m vps_d2.evaluation --preset``):

* ``cityscapes-vps``: ``pred.json`` + ``pan_pred/<image id>.png`` (:class:`.SubmissionWriter`);
* ``vipseg``: ``pred.json`` with per-video ``annotations`` + ``pan_pred/<video>/<frame>.png``
  (RGB-encoded ids), as VIPSeg's ``eval_vpq_vspw.py`` / ``eval_stq_vspw.py`` read them;
* ``kitti-step``: ``<sequence>/<frame>.png`` with R = class (255 void), G·256 + B = instance
  (things numbered 1, 2, ... per video by first appearance; stuff 0), as the STEP benchmark.

A writer takes frames with :meth:`add` (video name, frame name, segment ids, ``(id, dataset
category id)`` segments) and writes the PNGs at once; :meth:`close` writes the JSON file, if any,
from the annotations of every rank.
"""

import os
from typing import Dict, List, Optional, Sequence, Set, Tuple

import numpy as np

from ..utils.file_io import atomic_write_json
from .step_io import VOID, write_step_png
from .submission_io import PRED_JSON, SubmissionWriter

__all__ = ["FORMATS", "frame_names", "make_writer"]

FORMATS = ("cityscapes-vps", "vipseg", "kitti-step")
_PREFIX = {"vipseg": "vipseg_", "kitti-step": "kitti_"}


def frame_names(fmt: str, image_id: str) -> Tuple[str, str]:
    """(video, frame) names of an image id of the unified format in ``fmt``'s layout.

    ``VVVV_FFFF_vipseg_<video>_<frame>`` / ``VVVV_FFFF_kitti_<seq>_<frame>`` (the converters'
    names) give back the benchmark's names; any other id gives (``VVVV``, ``FFFF``). For
    ``cityscapes-vps`` the frame name is the image id itself.
    """
    parts = str(image_id).split("_", 2)
    if fmt == "cityscapes-vps":
        return parts[0], str(image_id)
    rest = parts[2] if len(parts) == 3 else ""
    prefix = _PREFIX.get(fmt)
    if prefix and rest.startswith(prefix) and "_" in rest[len(prefix):]:
        video, frame = rest[len(prefix):].rsplit("_", 1)
        return video, frame
    return parts[0], parts[1] if len(parts) > 1 else "0"


class _CityscapesVPS(SubmissionWriter):
    def add(self, video: str, frame: str, ids: np.ndarray, segments) -> None:
        super().add(frame, ids, segments)  # the frame name is the image id

    def close(self, annotations: Optional[List[Dict]] = None) -> str:
        if annotations is not None:
            self.annotations = annotations
        return super().close()


class _VIPSeg(SubmissionWriter):
    def add(self, video: str, frame: str, ids: np.ndarray, segments) -> None:
        super().add(os.path.join(video, frame), ids, segments)
        ann = self.annotations[-1]
        ann.update(video_id=video, image_id=frame, file_name=f"{frame}.png")

    def close(self, annotations: Optional[List[Dict]] = None) -> str:
        videos: Dict[str, List[Dict]] = {}
        for a in annotations if annotations is not None else self.annotations:
            a = dict(a)
            videos.setdefault(a.pop("video_id"), []).append(a)
        path = os.path.join(self.out_dir, PRED_JSON)
        atomic_write_json(
            path, {"annotations": [{"video_id": v, "annotations": a} for v, a in videos.items()]}
        )
        return path


class _KittiStep:
    def __init__(self, out_dir: str, thing_ids: Set[int]):
        self.out_dir = out_dir
        self.thing_ids = thing_ids
        self.annotations: List[Dict] = []  # none: the PNGs say everything
        self._instances: Dict[str, Dict[int, int]] = {}

    def add(self, video: str, frame: str, ids: np.ndarray, segments) -> None:
        ids = np.asarray(ids, np.int64)
        numbers = self._instances.setdefault(video, {})
        listed = sorted({int(i) for i, _ in segments if int(i)})
        lut_ids = np.array([0] + listed, np.int64)
        sem = np.full(len(lut_ids), VOID, np.int64)
        inst = np.zeros(len(lut_ids), np.int64)
        cat = {int(i): int(c) for i, c in reversed(list(segments))}
        for k, sid in enumerate(listed, 1):
            sem[k] = cat[sid]
            if cat[sid] in self.thing_ids:
                inst[k] = numbers.setdefault(sid, len(numbers) + 1)
        pos = np.searchsorted(lut_ids, ids)
        pos = np.minimum(pos, len(lut_ids) - 1)
        if not (lut_ids[pos] == ids).all():
            bad = int(ids[lut_ids[pos] != ids][0])
            raise ValueError(f"segment id {bad} is on the map but in no segments_info")
        write_step_png(os.path.join(self.out_dir, video, f"{frame}.png"), sem[pos], inst[pos])

    def close(self, annotations: Optional[List[Dict]] = None) -> str:
        return self.out_dir


def make_writer(fmt: str, out_dir: str, thing_ids: Sequence[int] = ()):
    """A writer of ``fmt`` (:data:`FORMATS`) into ``out_dir``; ``thing_ids`` are the dataset
    category ids of things (KITTI-STEP numbers their instances)."""
    if fmt == "cityscapes-vps":
        return _CityscapesVPS(out_dir)
    if fmt == "vipseg":
        return _VIPSeg(out_dir)
    if fmt == "kitti-step":
        return _KittiStep(out_dir, set(int(i) for i in thing_ids))
    raise ValueError(f"unknown submission format '{fmt}', expected one of {FORMATS}")

