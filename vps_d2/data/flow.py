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
