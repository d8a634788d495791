"""The per-frame network of a VPSNet as one tensors-in, tensors-out module (issue 23).

``FrameNetwork(model, image_size)(image, ref_gathered, flow, first)`` runs what
:meth:`VPSNet.inference_step` runs on one frame with weights: backbone + FPN + balanced-FPN, the fuse
head (the previous frame's gathered map and the initial flow are *inputs*, this frame's gathered map
an output), RPN, box / mask / track heads and the semantic head. The initial flow is computed outside
(by the configured flow source, which may be OpenCV), so no trace can freeze it. The number of
detections K is a data-dependent size: proposals and detections are chosen with masks, top-k and NMS
written for ``torch.export`` and ONNX (the same choices as detectron2's inference, which branches on
data). The panoptic merge and the tracker are Python around it (:mod:`vps_d2.export.runner`).
"""
import copy
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from detectron2.layers import nms
from detectron2.modeling.poolers import ROIPooler, assign_boxes_to_levels
from detectron2.structures import Boxes
from torch import nn

from ..layers.flow_warp import FlowWarp
from ..modeling.balanced_fpn import gather, redistribute

__all__ = ["FrameNetwork", "OUTPUT_NAMES", "padded_size"]

OUTPUT_NAMES = ["gathered", "boxes", "scores", "classes", "mask_logits", "embeds", "sem_logits"]


def padded_size(image_size: Tuple[int, int], divisibility: int) -> Tuple[int, int]:
    """The model input's size after ``ImageList.from_tensors`` padding."""
    d = max(divisibility, 1)
    return tuple(-(-s // d) * d for s in image_size)


def _clip(boxes: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    h, w = size
    return torch.stack([boxes[:, 0].clamp(0, w), boxes[:, 1].clamp(0, h), boxes[:, 2].clamp(0, w),
                        boxes[:, 3].clamp(0, h)], dim=1)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, thresh: float, extent: int) -> torch.Tensor:
    """NMS within each group of boxes clipped to [0, extent]: torchvision's coordinate trick (each
    group shifted out of the others' way) with a constant shift, so no data-dependent size or loop."""
    offsets = groups.to(boxes) * float(extent + 1)
    return nms(boxes + offsets[:, None], scores, thresh)


def roi_pool(pooler: ROIPooler, maps: List[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
    """``pooler(maps, [Boxes(boxes)])`` for one image, with the level of each box chosen by masks
    instead of Python lengths (the ROIPooler turns ``len(boxes)`` into a constant)."""
    rois = torch.cat([boxes.new_zeros((boxes.shape[0], 1)), boxes], dim=1)
    if len(pooler.level_poolers) == 1:
        return pooler.level_poolers[0](maps[0], rois)
    levels = assign_boxes_to_levels([Boxes(boxes)], pooler.min_level, pooler.max_level,
                                    pooler.canonical_box_size, pooler.canonical_level)
    size = pooler.output_size
    out = boxes.new_zeros((boxes.shape[0], maps[0].shape[1], *size))
    for level, (align, x) in enumerate(zip(pooler.level_poolers, maps)):
        idx = torch.nonzero(levels == level).squeeze(1)
        out = out.index_put((idx,), align(x, rois[idx]))
    return out


class FrameNetwork(nn.Module):
    """One frame of a VPSNet with weights, for a fixed input size.

    Args:
        model: a ``VPSNet`` (copied, in eval mode).
        image_size: (H, W) of the model input before padding (after the test-time resize).
        portable_warp: use the flow warp's PyTorch reference instead of the configured kernel
            (for export; the analysis keeps the kernel that runs).

    Inputs: ``image`` (1, 3, H, W) float32 pixel values in the config's channel order;
    ``ref_gathered`` (1, C, h, w) the previous frame's ``gathered`` output; ``flow`` (1, 2, h, w)
    the initial flow to the previous frame, in pixels at 1/4 of the padded input; ``first`` (1,)
    bool, True on a video's first frame (the frame is then its own reference, as in eager).

    Outputs (:data:`OUTPUT_NAMES`): gathered (1, C, h, w); boxes (K, 4) in input pixels; scores (K,);
    classes (K,) int64; mask_logits (K, M, M); embeds (K, D) (D = 0 without a track head);
    sem_logits (1, C_sem, h, w).
    """

    def __init__(self, model: nn.Module, image_size: Tuple[int, int], portable_warp: bool = True):
        super().__init__()
        model = copy.deepcopy(model).eval()
        for m in model.modules():
            if portable_warp and isinstance(m, FlowWarp):
                m.impl = "pytorch"
        self.vpsnet = model
        self.image_size = tuple(int(s) for s in image_size)
        self.padded = padded_size(self.image_size, model.backbone.size_divisibility)
        rpn = model.proposal_generator
        shapes = model.backbone.output_shape()
        grids = [(self.padded[0] // shapes[f].stride, self.padded[1] // shapes[f].stride) for f in rpn.in_features]
        sizes = [torch.zeros(1, 1, *g) for g in grids]  # the padded levels' sizes (FPN strides divide them)
        for i, anchors in enumerate(rpn.anchor_generator(sizes)):
            self.register_buffer(f"anchors{i}", anchors.tensor, persistent=False)

    def forward(self, image: torch.Tensor, ref_gathered: torch.Tensor, flow: torch.Tensor, first: torch.Tensor):
        m = self.vpsnet
        x = (image - m.pixel_mean) / m.pixel_std
        x = F.pad(x, (0, self.padded[1] - self.image_size[1], 0, self.padded[0] - self.image_size[0]))
        features = m.backbone(x)
        gathered = gather(features, m.fuse_features)
        features = redistribute(features, gathered, m.fuse_features)
        if m.fuse_head is not None:
            ref = torch.where(first.view(1, 1, 1, 1), gathered, ref_gathered)
            features = m._fuse(features, gathered, ref, flow)
        boxes, scores, classes = self.detections(features, self.proposals(features))
        heads = m.roi_heads
        mask_logits = heads.mask_head.layers(roi_pool(heads.mask_pooler, [features[f] for f in heads.mask_in_features], boxes))
        if mask_logits.shape[1] > 1:  # class-specific masks: each detection's class
            mask_logits = mask_logits.gather(1, classes.view(-1, 1, 1, 1).expand(-1, 1, *mask_logits.shape[-2:]))
        mask_logits = torch.logit(mask_logits[:, 0].sigmoid(), eps=1e-6)  # eager's probabilities, back to logits
        if heads.track_on:
            embeds = heads.track_head(roi_pool(heads.track_pooler, [features[f] for f in heads.track_in_features], boxes))
        else:
            embeds = boxes.new_zeros((boxes.shape[0], 0))
        sem_logits, _ = m.sem_seg_head(features)
        return gathered, boxes, scores, classes, mask_logits, embeds, sem_logits

    def proposals(self, features: Dict[str, torch.Tensor]) -> torch.Tensor:
        """detectron2's RPN inference for one image: top-k per level, clip, drop empty, NMS per level."""
        rpn = self.vpsnet.proposal_generator
        maps = [features[f] for f in rpn.in_features]
        logits, deltas = rpn.rpn_head(maps)
        boxes, scores, levels = [], [], []
        for i, (s, d) in enumerate(zip(logits, deltas)):
            anchors = getattr(self, f"anchors{i}")
            s = s[0].permute(1, 2, 0).flatten()
            d = d[0].view(-1, 4, d.shape[-2], d.shape[-1]).permute(2, 3, 0, 1).reshape(-1, 4)
            k = min(s.shape[0], rpn.pre_nms_topk[False])
            s, idx = s.topk(k)
            boxes.append(rpn.box2box_transform.apply_deltas(d[idx], anchors[idx]))
            scores.append(s)
            levels.append(torch.full((k,), i, dtype=torch.int64, device=s.device))
        boxes, scores, levels = torch.cat(boxes), torch.cat(scores), torch.cat(levels)
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores)
        boxes = _clip(boxes, self.image_size)
        size = rpn.min_box_size
        keep = valid & (boxes[:, 2] - boxes[:, 0] > size) & (boxes[:, 3] - boxes[:, 1] > size)
        boxes, scores, levels = boxes[keep], scores[keep], levels[keep]
        keep = batched_nms(boxes, scores, levels, rpn.nms_thresh, max(self.image_size))[: rpn.post_nms_topk[False]]
        return boxes[keep]

    def detections(self, features: Dict[str, torch.Tensor], proposals: torch.Tensor) -> List[torch.Tensor]:
        """``TrackROIHeads`` box inference: per-class score threshold and NMS, then (with
        ``CLASS_AGNOSTIC_NMS``) one NMS over all classes, then the top ``DETECTIONS_PER_IMAGE``."""
        heads = self.vpsnet.roi_heads
        predictor = heads.box_predictor
        x = roi_pool(heads.box_pooler, [features[f] for f in heads.box_in_features], proposals)
        cls_logits, deltas = predictor(heads.box_head(x))
        scores = F.softmax(cls_logits, dim=-1)[:, :-1]
        boxes = predictor.box2box_transform.apply_deltas(deltas, proposals)
        num_classes = scores.shape[1]
        valid = torch.isfinite(boxes).all(dim=1) & torch.isfinite(scores).all(dim=1)
        boxes = _clip(boxes.reshape(-1, 4), self.image_size).view(proposals.shape[0], deltas.shape[1] // 4, 4)
        if boxes.shape[1] == 1:  # class-agnostic box regression
            boxes = boxes.expand(-1, num_classes, -1)
        chosen = valid[:, None] & (scores > predictor.test_score_thresh)
        classes = torch.arange(num_classes, device=scores.device).expand_as(scores)[chosen]
        boxes, scores = boxes[chosen], scores[chosen]
        keep = batched_nms(boxes, scores, classes, predictor.test_nms_thresh, max(self.image_size))
        if heads.class_agnostic_nms:
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
            keep = nms(boxes, scores, predictor.test_nms_thresh)
        keep = keep[: predictor.test_topk_per_image] if predictor.test_topk_per_image >= 0 else keep
        return boxes[keep], scores[keep], classes[keep]
