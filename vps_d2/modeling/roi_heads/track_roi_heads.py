"""``TrackROIHeads``: Mask R-CNN ROI heads plus the track branch (paper §V-C2) and class-agnostic
NMS at inference (§V-D2). Built like detectron2's ``DensePoseROIHeads`` (a ``StandardROIHeads``
subclass whose extra branch has its own pooler and head, and runs in ``forward_with_given_boxes``).
"""

from typing import Dict, List, Optional, Tuple

import torch

from detectron2.config import configurable
from detectron2.layers import ShapeSpec, cat, nms
from detectron2.modeling.poolers import ROIPooler
from detectron2.modeling.roi_heads import (
    ROI_HEADS_REGISTRY,
    StandardROIHeads,
    select_foreground_proposals,
)
from detectron2.modeling.roi_heads.fast_rcnn import fast_rcnn_inference
from detectron2.structures import Boxes, ImageList, Instances

from ..track_head import build_track_head, track_labels


def class_agnostic_nms(instances: Instances, nms_thresh: float, topk: int) -> Instances:
    """One NMS over all classes at ``nms_thresh`` (a box suppresses overlapping boxes of any class
    with a lower score), then the ``topk`` best (all if ``topk < 0``), sorted by score."""
    keep = nms(instances.pred_boxes.tensor, instances.scores, nms_thresh)
    if topk >= 0:
        keep = keep[:topk]
    return instances[keep]


def track_targets(
    proposals: List[Instances], ref_targets: List[Instances], bg_label: int
) -> Tuple[List[Instances], List[torch.Tensor]]:
    """Anchors of the track loss and their labels (facts §2.3).

    Args:
        proposals: sampled target-frame proposals (``gt_classes`` and, for images with ground truth,
            ``gt_ids`` copied from the matched target by ``label_and_sample_proposals``).
        ref_targets: the reference frame's ground truth with ``gt_ids``.
        bg_label: the background class (``num_classes``).

    Returns:
        the foreground proposals per image (anchors) and their labels (int64): 1 + the index of the
        anchor's ``gt_id`` among ``ref_targets[i].gt_ids``, or 0 ("new object") if absent.
    """
    fg, _ = select_foreground_proposals(proposals, bg_label)
    labels = []
    for p, ref in zip(fg, ref_targets):
        ref_ids = _ids(ref, "reference targets")
        ids = _ids(p, "target proposals (copied from targets[i].gt_ids)")
        labels.append(track_labels(ids.to(ref_ids.device), ref_ids))
    return fg, labels


def _ids(instances: Instances, what: str) -> torch.Tensor:
    if instances.has("gt_ids"):
        return instances.gt_ids
    if len(instances) == 0:
        device = instances.proposal_boxes.device if instances.has("proposal_boxes") else "cpu"
        return torch.zeros((0,), dtype=torch.int64, device=device)
    raise ValueError(f"the track head needs 'gt_ids' on the {what}")


@ROI_HEADS_REGISTRY.register()
class TrackROIHeads(StandardROIHeads):
    """``StandardROIHeads`` (box + mask) with a track branch (``MODEL.VPS.TRACK_ON``) and
    class-agnostic NMS (``MODEL.ROI_HEADS.CLASS_AGNOSTIC_NMS``).

    Track branch: a ``ROIPooler`` over ``MODEL.ROI_HEADS.IN_FEATURES`` (settings in
    ``MODEL.TRACK_HEAD.POOLER_*``) and a registered track head (``MODEL.TRACK_HEAD.NAME``) that
    embeds each RoI. In training, the anchors are the target frame's foreground sampled proposals,
    and the M reference embeddings are the reference frame's ground-truth boxes pooled from
    ``ref_features``.

    Which reference features: ``ref_features`` are the reference frame's features *as the model
    sees them*, i.e. fused when the fuse head is bi-directional and the reference's own pyramid
    otherwise. At test time the tracker's memory embeddings are the previous frame's detections
    pooled from that frame's own (fused) features, so training the reference side on the same kind
    of features keeps training and test consistent. The original pooled the reference from
    *un-fused* features in training but from fused ones at test (facts §6.8).

    Inference: per-class box inference (score > ``SCORE_THRESH_TEST``, NMS at
    ``NMS_THRESH_TEST``), then one class-agnostic NMS at ``NMS_THRESH_TEST`` and the top
    ``TEST.DETECTIONS_PER_IMAGE`` (§V-D2), then masks (``pred_masks``) and, with the track branch,
    ``pred_embeds`` (K, FC_DIM).

    With ``MODEL.VPS.TRACK_ON`` False this is a plain Mask R-CNN ROI head (plus the NMS option).
    """

    @configurable
    def __init__(
        self,
        *,
        track_in_features: Optional[List[str]] = None,
        track_pooler: Optional[ROIPooler] = None,
        track_head: Optional[torch.nn.Module] = None,
        class_agnostic_nms: bool = False,
        **kwargs,
    ):
        """
        Args:
            track_in_features (list[str]): maps the track pooler reads; None: no track branch.
            track_pooler (ROIPooler): pooler of the track RoIs.
            track_head (EmbeddingTrackHead): from ``build_track_head``.
            class_agnostic_nms (bool): add a class-agnostic NMS at inference.
            kwargs: see ``StandardROIHeads``.
        """
        super().__init__(**kwargs)
        self.track_on = track_in_features is not None
        if self.track_on:
            self.track_in_features = track_in_features
            self.track_pooler = track_pooler
            self.track_head = track_head
        self.class_agnostic_nms = class_agnostic_nms

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["class_agnostic_nms"] = cfg.MODEL.ROI_HEADS.CLASS_AGNOSTIC_NMS
        ret.update(cls._init_track_head(cfg, input_shape))
        return ret

    @classmethod
    def _init_track_head(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        if not cfg.MODEL.VPS.TRACK_ON:
            return {}
        t = cfg.MODEL.TRACK_HEAD
        in_features = cfg.MODEL.ROI_HEADS.IN_FEATURES
        channels = {input_shape[f].channels for f in in_features}
        assert (
            len(channels) == 1
        ), f"the track head needs equal channels on {in_features}: {channels}"
        pooler = ROIPooler(
            output_size=t.POOLER_RESOLUTION,
            scales=tuple(1.0 / input_shape[f].stride for f in in_features),
            sampling_ratio=t.POOLER_SAMPLING_RATIO,
            pooler_type=t.POOLER_TYPE,
        )
        shape = ShapeSpec(
            channels=channels.pop(), height=t.POOLER_RESOLUTION, width=t.POOLER_RESOLUTION
        )
        return {
            "track_in_features": in_features,
            "track_pooler": pooler,
            "track_head": build_track_head(cfg, shape),
        }

    def forward(
        self,
        images: ImageList,
        features: Dict[str, torch.Tensor],
        proposals: List[Instances],
        targets: Optional[List[Instances]] = None,
        ref_features: Optional[Dict[str, torch.Tensor]] = None,
        ref_targets: Optional[List[Instances]] = None,
    ) -> Tuple[List[Instances], Dict[str, torch.Tensor]]:
        """
        Args:
            images, features, proposals, targets: as ``StandardROIHeads.forward``; in training with
                the track branch, ``targets[i].gt_ids`` (int64 segment ids) are required.
            ref_features (dict[str, Tensor]): the reference frame's features (training with the
                track branch only); same keys and batch size as ``features``.
            ref_targets (list[Instances]): the reference frame's ground truth with ``gt_boxes``,
                ``gt_classes`` and ``gt_ids`` (training with the track branch only).

        Returns:
            training: (sampled proposals, losses) with ``loss_cls``, ``loss_box_reg``, ``loss_mask``
            and, with the track branch, ``loss_track``. Inference: (instances, {}).
        """
        if not self.training:
            return super().forward(images, features, proposals)
        proposals, losses = super().forward(images, features, proposals, targets)
        if self.track_on:
            if ref_features is None or ref_targets is None:
                raise ValueError(
                    "TrackROIHeads with MODEL.VPS.TRACK_ON needs ref_features and ref_targets"
                )
            losses.update(self._forward_track(features, proposals, ref_features, ref_targets))
        return proposals, losses

    def _forward_track(
        self, features, proposals, ref_features, ref_targets
    ) -> Dict[str, torch.Tensor]:
        anchors, labels = track_targets(proposals, ref_targets, self.num_classes)
        x = self.track_pooler(
            [features[f] for f in self.track_in_features], [p.proposal_boxes for p in anchors]
        )
        x_ref = self.track_pooler(
            [ref_features[f] for f in self.track_in_features], [t.gt_boxes for t in ref_targets]
        )
        num_anchors, num_ref = [len(p) for p in anchors], [len(t) for t in ref_targets]
        embeds, ref_embeds = self.track_head(torch.cat([x, x_ref])).split(
            [sum(num_anchors), sum(num_ref)]
        )
        return self.track_head.losses(
            list(embeds.split(num_anchors)), list(ref_embeds.split(num_ref)), labels
        )

    def _forward_box(self, features: Dict[str, torch.Tensor], proposals: List[Instances]):
        if self.training or not self.class_agnostic_nms:
            return super()._forward_box(features, proposals)
        predictor = self.box_predictor
        x = self.box_pooler(
            [features[f] for f in self.box_in_features], [p.proposal_boxes for p in proposals]
        )
        predictions = predictor(self.box_head(x))
        boxes = predictor.predict_boxes(predictions, proposals)
        scores = predictor.predict_probs(predictions, proposals)
        # per-class NMS and the score threshold, keeping all (-1); the top-k comes after the
        # class-agnostic NMS so that suppressed boxes do not take the places of kept ones
        instances, _ = fast_rcnn_inference(
            boxes,
            scores,
            [p.image_size for p in proposals],
            predictor.test_score_thresh,
            predictor.test_nms_thresh,
            -1,
        )
        return [
            class_agnostic_nms(i, predictor.test_nms_thresh, predictor.test_topk_per_image)
            for i in instances
        ]

    def forward_with_given_boxes(
        self, features: Dict[str, torch.Tensor], instances: List[Instances]
    ) -> List[Instances]:
        """``StandardROIHeads.forward_with_given_boxes`` plus ``pred_embeds`` (K, FC_DIM) when the
        track branch is on."""
        instances = super().forward_with_given_boxes(features, instances)
        if self.track_on:
            for inst, embeds in zip(
                instances, self.track_embeddings(features, [i.pred_boxes for i in instances])
            ):
                inst.pred_embeds = embeds
        return instances

    def mask_logits(
        self, features: Dict[str, torch.Tensor], boxes: List[Boxes], classes: List[torch.Tensor]
    ) -> List[torch.Tensor]:
        """Raw mask logits (before the sigmoid) of the given classes in the given boxes.

        Args:
            features: the image features (the same dict as ``forward``).
            boxes: per image, K_i boxes in input-image coordinates.
            classes: per image, (K_i,) int64 classes in [0, NUM_CLASSES).

        Returns:
            list[Tensor]: per image, (K_i, M, M) with M = 2 · ROI_MASK_HEAD.POOLER_RESOLUTION for
            the standard mask head; class-specific, or the single channel of a class-agnostic head.
        """
        if not self.mask_on or self.mask_pooler is None:
            raise RuntimeError("mask_logits needs MODEL.MASK_ON and a ROI_MASK_HEAD.POOLER_TYPE")
        x = self.mask_pooler([features[f] for f in self.mask_in_features], list(boxes))
        logits = self.mask_head.layers(x)  # (K, C or 1, M, M)
        if logits.shape[1] == 1:
            logits = logits[:, 0]
        else:
            cls = cat([c.to(device=logits.device, dtype=torch.int64) for c in classes])
            logits = logits[torch.arange(cls.shape[0], device=logits.device), cls]
        return list(logits.split([b.tensor.shape[0] for b in boxes]))  # shape, not len(): traceable

    def track_embeddings(
        self, features: Dict[str, torch.Tensor], boxes: List[Boxes]
    ) -> List[torch.Tensor]:
        """Track embeddings of the given boxes: per image, (K_i, FC_DIM)."""
        if not self.track_on:
            raise RuntimeError("track_embeddings needs the track branch (MODEL.VPS.TRACK_ON)")
        x = self.track_pooler([features[f] for f in self.track_in_features], list(boxes))
        return list(self.track_head(x).split([b.tensor.shape[0] for b in boxes]))
