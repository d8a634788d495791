"""UPSNet-style panoptic logits, parameter-free (facts §3.5; SPEC §4 "Panoptic head", §9 "Inference
merge").

Channels: ``[stuff (S), instances (K)]``. Stuff channel s = the semantic logit of stuff s's channel.
Instance channel k = (semantic logit of its class + its mask logit pasted in its box) inside its box,
and ``OUTSIDE_BOX_LOGIT`` outside.

Sampling grid: logit pixel (i, j) stands for image pixel (i·stride, j·stride), exactly the pixels the
loss keeps when it subsamples the full-resolution target with ``[::stride, ::stride]``. A logit pixel
is inside box (x1, y1, x2, y2) when that image pixel's centre (j·stride + 0.5, i·stride + 0.5) lies in
[x1, x2) x [y1, y2). Ground-truth boxes are the tight [min, max + 1) extent of their mask, so every
target pixel labelled S + k is inside box k, and its target channel is never the outside value.

Outside the box (our answer to the original's trap, facts §6.7): the original filled instance channels
with 0 outside their box, so thing pixels covered by no box, where every stuff logit is negative, were
claimed by an instance far away. Here an instance channel is ``OUTSIDE_BOX_LOGIT`` (-1e4, finite so
that it is safe in fp16 and in the CE gradient) outside its box, so an instance never claims a pixel
outside its box. A thing pixel covered by no box therefore goes to the best stuff channel at inference
(the merge may then void it as small stuff); in the loss such a pixel is whatever the target says: the
dataset mapper marks crowd/void thing pixels ``PANOPTIC_IGNORE`` (ignored), and with ground-truth boxes
every other thing pixel belongs to a box.

Mask pasting: the M x M mask logits cover their box; mask cell m spans
[x1 + m·w/M, x1 + (m + 1)·w/M) (the RoIAlign convention of the mask target), so a point x maps to
``grid_sample`` coordinate (x - x1) / w · 2 - 1 with ``align_corners=False``, bilinear, border padding
(inside the box no value is blended with zeros). Boxes may extend past the image: only the part on the
logit grid is used. Degenerate or fully outside boxes give an all-outside channel.
"""
from typing import Tuple

import torch
import torch.nn.functional as F

__all__ = ["OUTSIDE_BOX_LOGIT", "paste_mask_logits", "panoptic_logits"]

# Value of an instance channel (and of its pasted mask logit) outside its box.
OUTSIDE_BOX_LOGIT = -1e4


def _grid_axis(length: int, stride: int, lo: torch.Tensor, hi: torch.Tensor):
    """Per box (K,): inside flags (K, length) and grid_sample coordinates (K, length) along one axis."""
    centres = torch.arange(length, device=lo.device, dtype=torch.float32) * stride + 0.5
    lo, hi = lo.float()[:, None], hi.float()[:, None]
    inside = (centres[None] >= lo) & (centres[None] < hi)
    coord = (centres[None] - lo) / (hi - lo).clamp(min=1e-6) * 2 - 1
    return inside, coord


def paste_mask_logits(
    mask_logits: torch.Tensor, boxes: torch.Tensor, size: Tuple[int, int], stride: int = 4
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Paste per-instance mask logits into their boxes on the (h, w) logit grid.

    Args:
        mask_logits: (K, M, M) mask logits, each covering its box.
        boxes: (K, 4) XYXY boxes in image pixels (the padded model input's frame).
        size: (h, w) of the logit grid (1/``stride`` of the image).

    Returns:
        pasted (K, h, w) float32: the resized mask logit inside the box, ``OUTSIDE_BOX_LOGIT`` outside;
        inside (K, h, w) bool.
    """
    h, w = size
    k = boxes.shape[0]
    if k == 0:
        device = mask_logits.device
        return (torch.zeros((0, h, w), device=device), torch.zeros((0, h, w), dtype=torch.bool, device=device))
    inside_y, v = _grid_axis(h, stride, boxes[:, 1], boxes[:, 3])
    inside_x, u = _grid_axis(w, stride, boxes[:, 0], boxes[:, 2])
    inside = inside_y[:, :, None] & inside_x[:, None, :]
    grid = torch.stack([u[:, None, :].expand(k, h, w), v[:, :, None].expand(k, h, w)], dim=-1)
    sampled = F.grid_sample(
        mask_logits[:, None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False
    )[:, 0]
    return torch.where(inside, sampled, torch.full_like(sampled, OUTSIDE_BOX_LOGIT)), inside


def panoptic_logits(
    sem_logits: torch.Tensor,
    stuff_channels: torch.Tensor,
    inst_channels: torch.Tensor,
    boxes: torch.Tensor,
    mask_logits: torch.Tensor,
    stride: int = 4,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Panoptic logits of one image.

    Args:
        sem_logits: (C, h, w) semantic logits at 1/``stride`` of the image.
        stuff_channels: (S,) long, semantic channel of each stuff index.
        inst_channels: (K,) long, semantic channel of each instance's class.
        boxes: (K, 4) XYXY in image pixels; mask_logits: (K, M, M) of each instance's class.

    Returns:
        logits (S + K, h, w) in ``sem_logits``' dtype; pasted mask logits (K, h, w) (float32,
        ``OUTSIDE_BOX_LOGIT`` outside each box; used by the edge input and the merge).
    """
    size = tuple(sem_logits.shape[-2:])
    stuff = sem_logits[stuff_channels.to(sem_logits.device)]
    pasted, inside = paste_mask_logits(mask_logits, boxes, size, stride)
    if boxes.shape[0] == 0:
        return stuff, pasted
    inst = sem_logits[inst_channels.to(sem_logits.device)] + pasted.to(sem_logits.dtype)
    inst = torch.where(inside, inst, torch.full_like(inst, OUTSIDE_BOX_LOGIT))
    return torch.cat([stuff, inst], dim=0), pasted
