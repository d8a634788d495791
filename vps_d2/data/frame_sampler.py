"""Which frames of a video make a training pair (paper §V-D1; SPEC §4 "Training pairs")."""
from typing import Sequence

import numpy as np


def sample_target(annotated: Sequence[bool], rng: np.random.RandomState) -> int:
    """A uniformly drawn annotated frame (position in the video)."""
    positions = np.flatnonzero(np.asarray(annotated, bool))
    if len(positions) == 0:
        raise ValueError("video has no annotated frame to train on")
    return int(positions[rng.randint(len(positions))])


def sample_reference(
    frame_numbers: Sequence[int],
    annotated: Sequence[bool],
    target: int,
    ref_range: int,
    rng: np.random.RandomState,
) -> int:
    """Draw the reference frame for ``target``.

    The reference is an annotated frame other than the target whose raw frame number is within
    ``ref_range`` of the target's (tau in [-R, R], tau != 0). If there is none, the nearest other
    annotated frame (ties broken at random); a video with one annotated frame pairs it with itself.

    Args:
        frame_numbers: raw frame number of each position (any increasing integers).
        annotated: whether each position has labels.
        target: position of the target frame.
        ref_range: R, in raw frames.
        rng: the random state (detectron2 seeds numpy's per data-loader worker).

    Returns:
        position of the reference frame.
    """
    numbers = np.asarray(frame_numbers, np.int64)
    others = np.flatnonzero(np.asarray(annotated, bool))
    others = others[others != target]
    if len(others) == 0:
        return target
    gaps = np.abs(numbers[others] - numbers[target])
    in_range = others[gaps <= ref_range]
    if len(in_range):
        return int(in_range[rng.randint(len(in_range))])
    nearest = others[gaps == gaps.min()]
    return int(nearest[rng.randint(len(nearest))])
