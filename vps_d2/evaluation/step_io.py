"""KITTI-STEP panoptic PNGs: per-sequence folders ``<sequence>/<frame>.png`` whose red channel is
the semantic class (255 = void) and whose instance id is ``G·256 + B`` (0 on a thing = crowd), for
the ground truth and for predictions alike (the STEP benchmark's layout).

The scorer works on segment ids, so a pixel becomes the id ``(class + 1)·2¹⁶ + instance``
(instance 0 for a stuff class, whose segment is the class), 0 where void: one segment per (class,
instance), as deeplab2's STEP evaluation keys its tracks by ``class << 16 | instance``.
"""

import os
from typing import List, Sequence, Tuple

import cv2
import numpy as np

from ..utils.file_io import atomic_path
from .png_io import PNGFormatError, decode_rgb_png
from .submission_io import EvaluationInputError

__all__ = [
    "VOID",
    "count_pairs",
    "decode_step_png",
    "list_sequences",
    "step_frame",
    "write_step_png",
]

VOID = 255
_SHIFT = 16


def decode_step_png(path: str) -> np.ndarray:
    """HxW uint32 ``class << 16 | instance`` of a STEP PNG (R = class, G·256 + B = instance)."""
    try:
        return decode_rgb_png(path, "bgr")  # R·65536 + G·256 + B
    except PNGFormatError as e:
        raise EvaluationInputError(
            f"{e.path}: {e.reason}, expected an 8-bit RGB STEP panoptic PNG "
            "(R = class, G·256 + B = instance)"
        ) from None


def step_frame(
    path: str, isthing: Sequence[bool]
) -> Tuple[np.ndarray, np.ndarray, List[Tuple[int, int, int]]]:
    """Read one STEP PNG as segment ids.

    Returns:
        (HxW int64 segment ids (0 = void), sorted distinct ids, segments ``(id, class, iscrowd)``).
    """
    raw = decode_step_png(path)
    cls = raw >> _SHIFT
    C = len(isthing)
    bad = (cls >= C) & (cls != VOID)
    if bad.any():
        raise EvaluationInputError(
            f"{path}: class {int(cls[bad][0])} in the red channel, expected 0..{C - 1} or "
            f"{VOID} (void)"
        )
    thing = np.zeros(256, bool)
    thing[:C] = isthing
    ids = ((cls.astype(np.int64) + 1) << _SHIFT) | np.where(thing[cls], raw & 0xFFFF, 0)
    ids[cls == VOID] = 0
    present = np.flatnonzero(np.bincount(ids.ravel()))
    segments = []
    for sid in present[present > 0].tolist():
        c, inst = (sid >> _SHIFT) - 1, sid & 0xFFFF
        segments.append((sid, c, int(bool(isthing[c]) and inst == 0)))
    return ids, present, segments


def count_pairs(
    gt_ids: np.ndarray, gt_present: np.ndarray, pred_ids: np.ndarray, pred_present: np.ndarray
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gt id, pred id, pixels) of every overlapping pair of two id maps of equal size, given the
    sorted distinct ids of each."""
    P = pred_present.size
    g = np.searchsorted(gt_present, gt_ids)
    p = np.searchsorted(pred_present, pred_ids)
    n = np.bincount((g * P + p).ravel(), minlength=gt_present.size * P)
    flat = np.flatnonzero(n)
    return gt_present[flat // P], pred_present[flat % P], n[flat]


def write_step_png(path: str, semantic: np.ndarray, instance: np.ndarray) -> None:
    """Write a STEP PNG (R = class, 255 = void; G·256 + B = instance), atomically."""
    instance = np.asarray(instance, np.int64)
    if instance.size and (instance.min() < 0 or instance.max() > 0xFFFF):
        raise ValueError(f"{path}: instance ids must be in [0, 65535]")
    bgr = np.stack(
        [instance & 255, instance >> 8, np.asarray(semantic, np.int64)], axis=-1
    ).astype(np.uint8)
    with atomic_path(path) as tmp:
        if not cv2.imwrite(tmp, bgr):
            raise OSError(f"{path}: could not write the PNG")


def list_sequences(folder: str, flag: str) -> List[Tuple[str, List[str]]]:
    """``[(sequence, [frame file names, sorted]), ...]`` of a folder of per-sequence folders."""
    if not os.path.isdir(folder):
        raise EvaluationInputError(
            f"{flag} {folder}: no such folder, expected per-sequence folders of STEP PNGs"
        )
    out = []
    for seq in sorted(os.listdir(folder)):
        d = os.path.join(folder, seq)
        if os.path.isdir(d):
            out.append((seq, sorted(f for f in os.listdir(d) if f.lower().endswith(".png"))))
    if not out:
        raise EvaluationInputError(
            f"{flag} {folder}: no sequence folder, expected <sequence>/<frame>.png"
        )
    return out
