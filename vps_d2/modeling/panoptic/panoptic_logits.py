"""UPSNet-style panoptic logits, parameter-free (facts §3.5; SPEC §4 "Panoptic head", §9 "Inference
merge").

Channels: ``[stuff (S), instances (K)]``. Stuff channel s = the semantic logit of stuff s's channel.
Instance channel k = the semantic logit of its class + its mask logit pasted in its box.

Grid convention (one for every 1/stride map of the model, the one of bilinear upsampling with
``align_corners=False``): logit cell (i, j) stands for the *centre* of the image block
[j·stride, (j + 1)·stride) x [i·stride, (i + 1)·stride), i.e. image point ((j + .5)·stride,
(i + .5)·stride). Upsampling a logit map bilinearly with ``align_corners=False`` puts cell values at
exactly those points, so the losses (computed on upsampled logits at full resolution), the merge and
the 1/stride targets of :func:`subsample_target` all agree.

Boxes are applied at the resolution where a decision is made, never before an upsampling:
:func:`panoptic_logits` returns instance channels *without* the box test (the mask logits are
border-extended past their box), and :func:`upsample_panoptic_logits` upsamples them and only then
sets each instance channel to ``OUTSIDE_BOX_LOGIT`` at the output pixels whose centre lies outside its
box. Masking on the coarse grid first and upsampling after would blend -1e4 into every pixel within one
cell of a box edge and erase thin instances (a 5 px wide person could lose all of its pixels).

Outside the box (our answer to the original's trap, facts §6.7): the original filled instance channels
with 0 outside their box, so thing pixels covered by no box, where every stuff logit is negative, were
claimed by an instance far away. Here an instance never claims a pixel outside its box (-1e4 there,
finite so that it is safe in fp16 and in the CE gradient). Ground-truth boxes are the tight
[min, max + 1) extent of their mask, so with them every pixel labelled S + k is inside box k.

Mask pasting: the M x M mask logits cover their box; mask cell m spans [x1 + m·w/M, x1 + (m + 1)·w/M)
(the RoIAlign convention of the mask target), so a point x maps to ``grid_sample`` coordinate
(x - x1) / w · 2 - 1 with ``align_corners=False``, bilinear, border padding.
"""
from typing import Tuple

import torch
import torch.nn.functional as F

__all__ = ["OUTSIDE_BOX_LOGIT", "box_inside", "paste_mask_logits", "panoptic_logits", "upsample_panoptic_logits"]

# Value of an instance channel (and of its pasted mask logit) outside its box.
OUTSIDE_BOX_LOGIT = -1e4


def _cell_centres(length: int, stride: float, device) -> torch.Tensor:
    """Image coordinates of the centres of ``length`` cells of size ``stride`` (the grid convention)."""
    return (torch.arange(length, device=device, dtype=torch.float32) + 0.5) * stride


def box_inside(boxes: torch.Tensor, size: Tuple[int, int], stride: float = 1.0, touching: bool = False) -> torch.Tensor:
    """(K, h, w) bool: cell (i, j) of an (h, w) grid of ``stride``-sized cells has its centre in box k,
    [x1, x2) x [y1, y2) in image pixels; with ``touching``, its block overlaps the box instead (so a
    box narrower than a cell still has cells)."""
    h, w = size
    ys, xs = _cell_centres(h, stride, boxes.device), _cell_centres(w, stride, boxes.device)
    b = boxes.float()
    if touching:  # block [c - s/2, c + s/2) overlaps [lo, hi)
        half = stride / 2
        in_y = (ys[None] + half > b[:, 1:2]) & (ys[None] - half < b[:, 3:4])
        in_x = (xs[None] + half > b[:, 0:1]) & (xs[None] - half < b[:, 2:3])
    else:  # centre c in [lo, hi)
        in_y = (ys[None] >= b[:, 1:2]) & (ys[None] < b[:, 3:4])
        in_x = (xs[None] >= b[:, 0:1]) & (xs[None] < b[:, 2:3])
    return in_y[:, :, None] & in_x[:, None, :]


def _sample_masks(mask_logits: torch.Tensor, boxes: torch.Tensor, size: Tuple[int, int], stride: int) -> torch.Tensor:
    """(K, h, w) float32: the mask logits resized to their box, border-extended outside it."""
    h, w = size
    k = boxes.shape[0]
    b = boxes.float()
    ys, xs = _cell_centres(h, stride, boxes.device), _cell_centres(w, stride, boxes.device)
    v = (ys[None] - b[:, 1:2]) / (b[:, 3:4] - b[:, 1:2]).clamp(min=1e-6) * 2 - 1
    u = (xs[None] - b[:, 0:1]) / (b[:, 2:3] - b[:, 0:1]).clamp(min=1e-6) * 2 - 1
    grid = torch.stack([u[:, None, :].expand(k, h, w), v[:, :, None].expand(k, h, w)], dim=-1)
    return F.grid_sample(mask_logits[:, None].float(), grid, mode="bilinear", padding_mode="border",
                         align_corners=False)[:, 0]


def paste_mask_logits(
    mask_logits: torch.Tensor, boxes: torch.Tensor, size: Tuple[int, int], stride: int = 4
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Paste per-instance mask logits into their boxes on the (h, w) logit grid.

    Args:
        mask_logits: (K, M, M) mask logits, each covering its box.
        boxes: (K, 4) XYXY boxes in image pixels (the padded model input's frame).
        size: (h, w) of the logit grid (1/``stride`` of the image).

    Returns:
        pasted (K, h, w) float32: the resized mask logit in every cell whose block touches the box,
        ``OUTSIDE_BOX_LOGIT`` elsewhere (what the mask removal, the tracker and the edge input use at
        1/stride: a box narrower than a cell keeps its cells); inside (K, h, w) bool.
    """
    if boxes.shape[0] == 0:
        device = mask_logits.device
        return (torch.zeros((0, *size), device=device), torch.zeros((0, *size), dtype=torch.bool, device=device))
    return _paste(_sample_masks(mask_logits, boxes, size, stride), boxes, stride)


def _paste(sampled: torch.Tensor, boxes: torch.Tensor, stride: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sampled mask logits (K, h, w) limited to the cells touching their box (see paste_mask_logits)."""
    inside = box_inside(boxes, tuple(sampled.shape[-2:]), stride, touching=True)
    return torch.where(inside, sampled, torch.full_like(sampled, OUTSIDE_BOX_LOGIT)), inside


def panoptic_logits(
    sem_logits: torch.Tensor,
    stuff_channels: torch.Tensor,
    inst_channels: torch.Tensor,
    boxes: torch.Tensor,
    mask_logits: torch.Tensor,
    stride: int = 4,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Panoptic logits of one image at 1/``stride``, before the box test.

    Args:
        sem_logits: (C, h, w) semantic logits at 1/``stride`` of the image.
        stuff_channels: (S,) long, semantic channel of each stuff index.
        inst_channels: (K,) long, semantic channel of each instance's class.
        boxes: (K, 4) XYXY in image pixels; mask_logits: (K, M, M) of each instance's class.

    Returns:
        logits (S + K, h, w) in ``sem_logits``' dtype, instance channels not yet limited to their
        box (give them to :func:`upsample_panoptic_logits`); pasted mask logits (K, h, w) (float32,
        ``OUTSIDE_BOX_LOGIT`` outside each box, see :func:`paste_mask_logits`).
    """
    size = tuple(sem_logits.shape[-2:])
    stuff = sem_logits[stuff_channels.to(sem_logits.device)]
    if boxes.shape[0] == 0:
        return stuff, paste_mask_logits(mask_logits, boxes, size, stride)[0]
    sampled = _sample_masks(mask_logits, boxes, size, stride)  # once: for the channels and the pasting
    inst = sem_logits[inst_channels.to(sem_logits.device)] + sampled.to(sem_logits.dtype)
    return torch.cat([stuff, inst], dim=0), _paste(sampled, boxes, stride)[0]


def upsample_panoptic_logits(
    logits: torch.Tensor,
    boxes: torch.Tensor,
    num_stuff: int,
    stride: int,
    input_size: Tuple[int, int],
    output_size: Tuple[int, int] = None,
) -> torch.Tensor:
    """Panoptic logits at image resolution, each instance limited to its box there.

    Args:
        logits: (S + K, h, w) from :func:`panoptic_logits`, at 1/``stride`` of the padded input.
        boxes: (K, 4) XYXY in input pixels.
        input_size: (H_in, W_in) part of the padded input to keep (the unpadded image).
        output_size: (H, W) of the result (default ``input_size``); boxes are scaled with it.

    Returns:
        (S + K, H, W): bilinear upsampling (``align_corners=False``), then ``OUTSIDE_BOX_LOGIT`` in
        instance channel k at every pixel whose centre is outside box k.
    """
    h_in, w_in = input_size
    output_size = tuple(output_size or input_size)
    full = F.interpolate(logits[None], scale_factor=stride, mode="bilinear", align_corners=False)[0, :, :h_in, :w_in]
    if (h_in, w_in) != output_size:
        full = F.interpolate(full[None], size=output_size, mode="bilinear", align_corners=False)[0]
    if boxes.shape[0] == 0:
        return full
    scale = boxes.new_tensor([output_size[1] / w_in, output_size[0] / h_in] * 2, dtype=torch.float32)
    inside = box_inside(boxes.float() * scale, output_size)
    inst = torch.where(inside, full[num_stuff:], torch.full_like(full[num_stuff:], OUTSIDE_BOX_LOGIT))
    return torch.cat([full[:num_stuff], inst])
