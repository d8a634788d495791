"""L_panoptic of Eq. 7 (facts §3.5): cross-entropy of the panoptic logits against the UPSNet target.

The target (dataset mapper's ``pan_seg``: stuff s -> s, instance k -> S + k, void/crowd ->
``PANOPTIC_IGNORE``) is compared at full resolution with the logits of
:func:`upsample_panoptic_logits`, exactly what the inference merge takes its argmax of (the semantic
loss does the same with the semantic logits). Mean over the non-ignored pixels (0, with a graph, when
there are none).

:func:`subsample_target` takes a full-resolution target to a 1/stride grid (edge and tube targets)
under the grid convention of ``panoptic_logits``: cell i takes the pixel nearest its centre.
"""
import torch
import torch.nn.functional as F

from ...data.dataset_mapper import PANOPTIC_IGNORE

__all__ = ["subsample_target", "panoptic_loss"]


def subsample_target(target: torch.Tensor, stride: int, size, fill: int = PANOPTIC_IGNORE) -> torch.Tensor:
    """``target[..., s//2::s, s//2::s]`` (cell i stands for the block centre (i + .5)·s; pixel
    i·s + s//2 is the nearest one), cropped, or padded with ``fill``, to ``size`` = (h, w)."""
    h, w = size
    off = stride // 2
    sub = target[..., off::stride, off::stride][..., :h, :w]
    if tuple(sub.shape[-2:]) != (h, w):
        out = sub.new_full((*sub.shape[:-2], h, w), fill)
        out[..., : sub.shape[-2], : sub.shape[-1]] = sub
        sub = out
    return sub


def panoptic_loss(logits: torch.Tensor, pan_target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``logits`` (S + K, H, W) from ``upsample_panoptic_logits`` against
    ``pan_target`` (H, W) int64 (values in [0, S + K) or ``PANOPTIC_IGNORE``), mean over the
    non-ignored pixels."""
    target = pan_target.to(logits.device)
    total = F.cross_entropy(logits[None].float(), target[None], ignore_index=PANOPTIC_IGNORE, reduction="sum")
    return total / (target != PANOPTIC_IGNORE).sum().clamp(min=1)
