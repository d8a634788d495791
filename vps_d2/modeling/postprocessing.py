"""Per-frame panoptic merge of the UPSNet-style logits (SPEC §9 "Inference merge"; paper §V-D2).

1. Mask removal: detections sorted by score; one is dropped when its binary mask is empty or more
   than ``overlap_thresh`` of it lies on already-kept masks of its class (the original's 30 % rule).
2. Argmax over [stuff logits, kept instance logits], upsampled to the output size; an instance is
   limited to its box at the output resolution (``upsample_panoptic_logits``), so it never claims a
   pixel outside its box and keeps every pixel inside it that it wins, however thin it is.
3. Stuff regions smaller than ``stuff_area_limit`` pixels become void (0).
"""
from typing import List, Tuple

import torch

from .panoptic import upsample_panoptic_logits


def remove_overlapping_masks(
    masks: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, overlap_thresh: float
) -> torch.Tensor:
    """Indices (in decreasing score order) of the detections that survive mask removal.

    Args:
        masks: (K, h, w) bool binary masks; scores, classes: (K,).
    """
    kept: List[int] = []
    covered = {}  # class -> union of kept masks of that class
    for i in torch.argsort(scores, descending=True).tolist():
        area = int(masks[i].sum())
        if area == 0:
            continue
        c = int(classes[i])
        union = covered.get(c)
        if union is not None and int((masks[i] & union).sum()) > overlap_thresh * area:
            continue
        covered[c] = masks[i] if union is None else union | masks[i]
        kept.append(i)
    return torch.tensor(kept, dtype=torch.long, device=masks.device)


def merge_panoptic(
    panoptic_logits: torch.Tensor,
    pasted_mask_logits: torch.Tensor,
    boxes: torch.Tensor,
    scores: torch.Tensor,
    classes: torch.Tensor,
    num_stuff: int,
    input_size: Tuple[int, int],
    output_size: Tuple[int, int],
    stride: int,
    overlap_thresh: float = 0.3,
    stuff_area_limit: float = 0.0,
):
    """Merge one frame.

    Args:
        panoptic_logits: (S + K, h, w) at 1/``stride`` of the padded model input, from
            ``panoptic_logits`` (instances not yet limited to their box).
        pasted_mask_logits: (K, h, w) mask logits pasted in their boxes (for mask removal).
        boxes: (K, 4) XYXY detection boxes in model-input pixels.
        scores, classes: (K,) detection scores and detector classes.
        num_stuff: S.
        input_size: (H_in, W_in) unpadded model-input size; output_size: (H, W) of the result.
        stuff_area_limit: minimum stuff area in output pixels.

    Returns:
        channel_map (H, W) int64: -1 void, s < S stuff index, S + j the j-th kept instance;
        kept (J,) indices of the kept detections.
    """
    kept = remove_overlapping_masks(pasted_mask_logits > 0, scores, classes, overlap_thresh)
    logits = torch.cat([panoptic_logits[:num_stuff], panoptic_logits[num_stuff:][kept]])
    full = upsample_panoptic_logits(logits, boxes[kept], num_stuff, stride, input_size, output_size)
    channel_map = full.argmax(dim=0)
    if stuff_area_limit > 0:
        areas = torch.bincount(channel_map.flatten(), minlength=logits.shape[0])
        small = torch.nonzero(areas[:num_stuff] < stuff_area_limit).flatten()
        channel_map[torch.isin(channel_map, small)] = -1
    return channel_map, kept
