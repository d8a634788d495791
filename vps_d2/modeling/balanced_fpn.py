"""Balanced-FPN gather and redistribute (paper §V-B; SPEC §4).

*gather* resizes every pyramid level to the finest one (P2, 1/4 of the image) and sums them into one
single-resolution map f; *redistribute* adds a 1/4-resolution map back to every level, resized to
that level. The fuse head works on f and its output g_t is redistributed the same way (§V-C1).
"""
from typing import Dict, List

import torch
import torch.nn.functional as F


def gather(features: Dict[str, torch.Tensor], names: List[str]) -> torch.Tensor:
    """f = Σ_l resize(p_l, size of p_{names[0]}), nearest upsampling (levels are 2x apart)."""
    size = features[names[0]].shape[-2:]
    out = features[names[0]]
    for name in names[1:]:
        out = out + F.interpolate(features[name], size=size, mode="nearest")
    return out


def redistribute(features: Dict[str, torch.Tensor], f: torch.Tensor, names: List[str]) -> Dict[str, torch.Tensor]:
    """p_l + resize(f, size of p_l) for each level in ``names``; other entries are kept as they are.

    Downsampling uses max pooling over each level's cells (adaptive max pooling), which keeps the
    strongest response of a cell instead of sampling one pixel of it.
    """
    out = dict(features)
    for name in names:
        p = features[name]
        resized = f if p.shape[-2:] == f.shape[-2:] else max_pool_to(f, p.shape[-2:])
        out[name] = p + resized
    return out


def max_pool_to(f: torch.Tensor, size) -> torch.Tensor:
    """``F.adaptive_max_pool2d(f, size)``. Where ``size`` divides f's size (every padded FPN level
    but a P6 of odd size) it is the same as ``max_pool2d`` with kernel = stride = the ratio, which
    ONNX and torch.export take with fixed sizes; adaptive pooling is the fallback."""
    (h, w), (oh, ow) = f.shape[-2:], size
    if h % oh == 0 and w % ow == 0:
        kernel = (h // oh, w // ow)
        return F.max_pool2d(f, kernel, kernel)
    return F.adaptive_max_pool2d(f, size)
