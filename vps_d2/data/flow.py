"""Initial optical flow computed on images (SPEC §4 "Initial flow": the ``dis`` source).

OpenCV's DIS flow needs no weights and costs a few ms per 1/4-scale frame pair on a CPU, so it
runs in the data-loader workers during training and online at inference.
"""
import math

import cv2
import numpy as np

FLOW_STRIDE = 4  # the fuse head works at 1/4 resolution (P2)


def flow_size(height: int, width: int, stride: int = FLOW_STRIDE):
    """Size of the 1/stride feature map of a (height, width) image: ceil, like a strided stem."""
    return math.ceil(height / stride), math.ceil(width / stride)


def dis_flow(target: np.ndarray, reference: np.ndarray, stride: int = FLOW_STRIDE) -> np.ndarray:
    """Flow from ``target`` to ``reference`` at 1/``stride`` scale, in pixels of that scale.

    With this flow, ``flow_warp(reference_features, flow)`` samples, for each target pixel (x, y),
    the reference at (x + dx, y + dy): the backward warp that aligns the reference to the target.

    Args:
        target, reference: HxWx3 uint8 images (any channel order, the same for both).

    Returns:
        float32 array (2, ceil(H/stride), ceil(W/stride)): channel 0 = dx, 1 = dy.
    """
    if target.shape != reference.shape:
        raise ValueError(f"frames differ in shape: {target.shape} vs {reference.shape}")
    h, w = flow_size(*target.shape[:2], stride)
    small = [
        cv2.resize(cv2.cvtColor(im, cv2.COLOR_BGR2GRAY), (w, h), interpolation=cv2.INTER_AREA)
        for im in (target, reference)
    ]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    flow = dis.calc(small[0], small[1], None)  # (h, w, 2): target(y, x) ~ reference(y + dy, x + dx)
    return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)


def chain_backward_flows(flows) -> np.ndarray:
    """Compose backward flows [t -> t-1, t-1 -> t-2, ...] (each (H, W, 2), NaN where not visible)
    into one flow t -> t-k: f(x) = f1(x) + f2(x + f1(x)) + ..., each later flow sampled bilinearly
    where the chain has landed (NaN once any step is invisible or out of the frame)."""
    total = np.array(flows[0], np.float32, copy=True)
    h, w = total.shape[:2]
    ys, xs = np.mgrid[:h, :w].astype(np.float32)
    for step in flows[1:]:
        map_x, map_y = xs + total[..., 0], ys + total[..., 1]
        valid = np.isfinite(map_x) & (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
        filled = np.nan_to_num(np.asarray(step, np.float32), nan=0.0)
        known = cv2.remap(np.isfinite(step).all(-1).astype(np.float32), np.nan_to_num(map_x), np.nan_to_num(map_y),
                          cv2.INTER_LINEAR)
        sampled = cv2.remap(filled, np.nan_to_num(map_x), np.nan_to_num(map_y), cv2.INTER_LINEAR)
        total = total + sampled
        total[~(valid & (known > 0.999))] = np.nan
    return total


def downscale_flow(flow: np.ndarray, stride: int = FLOW_STRIDE, empty: float = 0.0) -> np.ndarray:
    """A full-resolution flow (H, W, 2) in pixels, NaN where unknown, as the fuse head's initial flow:
    (2, ceil(H/stride), ceil(W/stride)) float32 in pixels of that scale, the mean of each cell's
    known values (``empty`` where a cell has none: 0 for an initial flow, NaN for a target)."""
    h, w = flow_size(*flow.shape[:2], stride)
    padded = np.full((h * stride, w * stride, 2), np.nan, np.float32)
    padded[: flow.shape[0], : flow.shape[1]] = flow
    cells = padded.reshape(h, stride, w, stride, 2)
    known = np.isfinite(cells)
    total = np.where(known, cells, 0.0).sum(axis=(1, 3))
    count = known.sum(axis=(1, 3))
    mean = np.divide(total, count, out=np.full_like(total, empty), where=count > 0) / stride
    return np.ascontiguousarray(mean.transpose(2, 0, 1), dtype=np.float32)
