"""L_panoptic of Eq. 7 (facts §3.5): cross-entropy of the panoptic logits against the UPSNet target.

The target (dataset mapper's ``pan_seg``: stuff s -> s, instance k -> S + k, void/crowd ->
``PANOPTIC_IGNORE``) is taken at the logits' resolution by keeping every ``stride``-th pixel
(``[::stride, ::stride]``, what the original did), matching the sampling grid of
:func:`panoptic_logits`. Mean over the non-ignored pixels (0, with a graph, when there are none).
"""
import torch
import torch.nn.functional as F

from ...data.dataset_mapper import PANOPTIC_IGNORE

__all__ = ["subsample_target", "panoptic_loss"]


def subsample_target(target: torch.Tensor, stride: int, size, fill: int = PANOPTIC_IGNORE) -> torch.Tensor:
    """``target[::stride, ::stride]`` cropped, or padded with ``fill``, to ``size`` = (h, w)."""
    h, w = size
    sub = target[::stride, ::stride][:h, :w]
    if sub.shape != (h, w):
        out = sub.new_full((h, w), fill)
        out[: sub.shape[0], : sub.shape[1]] = sub
        sub = out
    return sub


def panoptic_loss(logits: torch.Tensor, pan_target: torch.Tensor, stride: int = 4) -> torch.Tensor:
    """Cross-entropy of ``logits`` (S + K, h, w) against ``pan_target`` (H, W) int64 (values in
    [0, S + K) or ``PANOPTIC_IGNORE``), mean over the non-ignored pixels."""
    target = subsample_target(pan_target.to(logits.device), stride, logits.shape[-2:])
    total = F.cross_entropy(logits[None].float(), target[None], ignore_index=PANOPTIC_IGNORE, reduction="sum")
    return total / (target != PANOPTIC_IGNORE).sum().clamp(min=1)
