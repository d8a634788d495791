"""VPSNet / VPSNet++ meta-architecture (paper §V, Fig. 4; SPEC §4).

Training takes target/reference pairs from :class:`VideoPanopticDatasetMapper`: both frames go
through the shared ResNet-FPN and the balanced-FPN gather/redistribute (§V-B); the fuse head (§V-C1)
adds g_t to the target's pyramid (and g_{t-τ} to the reference's when bi-directional); then RPN,
box/mask/track ROI heads (§V-C2), the semantic head, the UPSNet panoptic head, the edge head (Eq. 5)
and the tube loss (Eq. 6), summed as Eq. 7. Inference is online, one frame at a time
(:meth:`VPSNet.inference_step`), with the previous frame's state cached instead of recomputed.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.modeling import META_ARCH_REGISTRY, build_backbone, build_proposal_generator, build_roi_heads
from detectron2.modeling import build_sem_seg_head
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import ImageList, Instances
from torch import nn

from ..balanced_fpn import gather, redistribute
from ..contracts import check_vpsnet_components
from ..flow import build_initial_flow
from ..flow.raft import RAFTFlow
from ..flow.zero import ZeroFlow
from ..fuse import build_fuse_head, flow_epe_loss
from ..panoptic import EdgeHead, dice_loss, edge_input, edge_target, panoptic_logits, panoptic_loss
from ..panoptic import subsample_target, tube_discrimination_loss, upsample_panoptic_logits
from ...data.dataset_mapper import PANOPTIC_IGNORE
from ...data.categories import category_maps
from ...data.datasets.cityscapes_vps import video_panoptic_metadata
from ...data.datasets.image_view import image_panoptic_metadata
from ...tracking import VideoTracker
from ...utils.errors import UserError
from .video_inference import InferenceOptions, build_tracker, inference_options, run_video

__all__ = ["VPSNet", "FrameState", "check_flow_traceable"]

TRACEABLE_FLOWS = (ZeroFlow, RAFTFlow)  # initial flows made of torch ops only


@dataclass
class FrameState:
    """What the next frame needs from this one: its raw image (for the initial flow) and its
    gathered feature map f (for the fuse head). The backbone never runs twice on a frame."""

    image: torch.Tensor  # uint8 (3, H, W), the model input size
    gathered: torch.Tensor  # (1, C, H/4, W/4) padded, before fusion


def checked_metadata(cfg):
    """Metadata of the dataset the heads are sized for (the first of ``DATASETS.TRAIN``, else of
    ``DATASETS.TEST``), after checking that the config fits the datasets: an inconsistent config is
    one UserError naming the key (SPEC §8), not an index error in a loss later."""
    names = [(n, f"DATASETS.{split}") for split in ("TRAIN", "TEST") for n in cfg.DATASETS[split]]
    if not names:
        raise UserError("DATASETS.TRAIN and DATASETS.TEST are empty, expected a dataset name")
    images = cfg.INPUT.DATASET_MAPPER_NAME == "image_panoptic"  # a Base trained on single images
    metas = [(image_panoptic_metadata if images and key == "DATASETS.TRAIN" else video_panoptic_metadata)(name, key)
             for name, key in names]  # checks every name
    meta, name = metas[0], names[0][0]
    semantic, things = category_maps(meta)
    checks = (
        ("MODEL.SEM_SEG_HEAD.NUM_CLASSES", cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES,
         len(semantic), f"the categories of '{name}'"),
        ("MODEL.ROI_HEADS.NUM_CLASSES", cfg.MODEL.ROI_HEADS.NUM_CLASSES,
         len(things), f"the thing categories of '{name}'"),
        ("INPUT.VIDEO.NUM_FRAMES", cfg.INPUT.VIDEO.NUM_FRAMES, 2,
         "the fuse and track heads take frame pairs"),
    )
    for key, value, want, why in checks:
        if value != want:
            raise UserError(f"{key}: {value} does not fit, expected {want} ({why})")
    return meta


def check_flow_traceable(flow: nn.Module) -> None:
    """Raise a UserError when ``flow`` would run inside a trace or an export but is computed outside
    torch (OpenCV DIS): the trace would freeze the tracing frame's flow into a constant and the
    traced model would be silently wrong on every other frame."""
    tracing = torch.jit.is_tracing() or torch.compiler.is_compiling() or torch.compiler.is_exporting()
    if tracing and not isinstance(flow, TRACEABLE_FLOWS):
        raise UserError(
            f"MODEL.FLOW.NAME: the initial flow ({type(flow).__name__}) is computed outside torch and "
            "cannot be traced; export with tools/export_model.py, which makes the flow an input of the "
            "exported graph (or set MODEL.FLOW.NAME zero or raft)"
        )


@META_ARCH_REGISTRY.register()
class VPSNet(nn.Module):
    """Video panoptic segmentation network; its variants are switched by ``MODEL.VPS.*``."""

    @configurable
    def __init__(
        self,
        *,
        backbone: nn.Module,
        proposal_generator: nn.Module,
        roi_heads: nn.Module,
        sem_seg_head: nn.Module,
        fuse_head: Optional[nn.Module],
        initial_flow: Optional[nn.Module],
        edge_head: Optional[nn.Module],
        fuse_features: List[str],
        bidirectional: bool,
        tube_on: bool,
        stuff_channels: List[int],
        thing_channels: List[int],
        pixel_mean: List[float],
        pixel_std: List[float],
        panoptic_loss_weight: float = 1.0,
        edge_loss_weight: float = 1.0,
        tube_loss_weight: float = 1.0,
        tube_temperature: float = 0.1,
        flow_loss_weight: float = 0.0,
        tracker: Optional[VideoTracker] = None,
        inference: Optional[InferenceOptions] = None,
    ):
        """
        Args:
            backbone, proposal_generator, roi_heads, sem_seg_head: detectron2 modules; ``roi_heads``
                is a ``TrackROIHeads`` (its track branch on or off).
            fuse_head: align-and-attend head, or None (Base / Track variants).
            initial_flow: initial flow source used when the batch carries no flow (and at inference).
            edge_head: panoptic edge head (Eq. 5) or None; training only.
            fuse_features: pyramid levels gathered and redistributed (§V-B).
            bidirectional: also fuse the target into the reference (VPSNet++ a).
            tube_on: add the tube-id discrimination loss (Eq. 6); training only.
            stuff_channels: semantic channel of each stuff index (the panoptic head's stuff logits).
            thing_channels: semantic channel of each detector class.
            pixel_mean, pixel_std: input normalisation.
            *_loss_weight, tube_temperature: Eq. 6-7 weights and temperature; ``flow_loss_weight``
                weighs the refined flow's EPE against a ground-truth flow (not in Eq. 7; 0 = off).
            tracker: the online tracker used by video inference (reset for every video).
            inference: panoptic-merge and tracking options of video inference.
        """
        super().__init__()
        self.backbone = backbone
        self.proposal_generator = proposal_generator
        self.roi_heads = roi_heads
        self.sem_seg_head = sem_seg_head
        self.fuse_head = fuse_head
        self.initial_flow = initial_flow
        self.edge_head = edge_head
        self.fuse_features = list(fuse_features)
        self.bidirectional = bidirectional
        self.tube_on = tube_on
        self.panoptic_loss_weight = panoptic_loss_weight
        self.edge_loss_weight = edge_loss_weight
        self.tube_loss_weight = tube_loss_weight
        self.tube_temperature = tube_temperature
        self.flow_loss_weight = flow_loss_weight
        self.tracker = tracker if tracker is not None else VideoTracker()
        self.inference = inference if inference is not None else InferenceOptions()
        self.register_buffer("stuff_channels", torch.tensor(stuff_channels, dtype=torch.long), False)
        self.register_buffer("thing_channels", torch.tensor(thing_channels, dtype=torch.long), False)
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(-1, 1, 1), False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(-1, 1, 1), False)

    @classmethod
    def from_config(cls, cfg):
        check_vpsnet_components(cfg)
        meta = checked_metadata(cfg)
        backbone = build_backbone(cfg)
        shapes = backbone.output_shape()
        channels = shapes[cfg.MODEL.FUSE.IN_FEATURES[0]].channels
        semantic, things = category_maps(meta)
        thing_channels = [semantic[d] for d in sorted(things, key=things.get)]
        stuff_channels = [semantic[d] for d in sorted(semantic, key=semantic.get) if d not in things]
        fuse_on = cfg.MODEL.VPS.FUSE_ON
        return {
            "backbone": backbone,
            "proposal_generator": build_proposal_generator(cfg, shapes),
            "roi_heads": build_roi_heads(cfg, shapes),
            "sem_seg_head": build_sem_seg_head(cfg, shapes),
            "fuse_head": build_fuse_head(cfg, channels) if fuse_on else None,
            "initial_flow": build_initial_flow(cfg) if fuse_on else None,
            "edge_head": EdgeHead(len(stuff_channels) + 2, cfg.MODEL.EDGE_HEAD.CONV_DIM) if cfg.MODEL.VPS.EDGE_ON else None,
            "fuse_features": cfg.MODEL.FUSE.IN_FEATURES,
            "bidirectional": fuse_on and cfg.MODEL.FUSE.BIDIRECTIONAL,
            "tube_on": cfg.MODEL.VPS.TUBE_ON,
            "stuff_channels": stuff_channels,
            "thing_channels": thing_channels,
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "panoptic_loss_weight": cfg.MODEL.PANOPTIC.LOSS_WEIGHT,
            "edge_loss_weight": cfg.MODEL.EDGE_HEAD.LOSS_WEIGHT,
            "tube_loss_weight": cfg.MODEL.TUBE_LOSS.LOSS_WEIGHT,
            "tube_temperature": cfg.MODEL.TUBE_LOSS.TEMPERATURE,
            "flow_loss_weight": cfg.MODEL.FUSE.FLOW_LOSS_WEIGHT,
            "tracker": build_tracker(cfg, cfg.MODEL.VPS.TRACK_ON),
            "inference": inference_options(cfg),
        }

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    # ----------------------------------------------------------------------------------- shared
    def preprocess_image(self, images: List[torch.Tensor]) -> ImageList:
        images = [(x.to(self.device) - self.pixel_mean) / self.pixel_std for x in images]
        return ImageList.from_tensors(images, self.backbone.size_divisibility)

    def _pyramid(self, images: ImageList):
        """Backbone + FPN + balanced-FPN redistribution; returns (features, gathered map f)."""
        features = self.backbone(images.tensor)
        gathered = gather(features, self.fuse_features)
        return redistribute(features, gathered, self.fuse_features), gathered

    def _fuse(self, features, f_t, f_ref, flow, flow_targets=None, flow_losses=None):
        """Add g_t = fuse(f_t, f_ref, flow) to every fused pyramid level (SPEC §9 "Align"); with
        ``flow_targets`` (the ground-truth flow), append the refined flow's EPE to ``flow_losses``."""
        if flow_targets is None:
            return redistribute(features, self.fuse_head(f_t, f_ref, flow), self.fuse_features)
        g, refined = self.fuse_head(f_t, f_ref, flow, return_flow=True)
        flow_losses.append(flow_epe_loss(refined, flow_targets))
        return redistribute(features, g, self.fuse_features)

    def _flow_targets(self, frames, size) -> Optional[torch.Tensor]:
        """The frames' ground-truth flows (N, 2, h, w) padded with NaN to the map ``size``, or None
        where the mapper gave none (MODEL.FUSE.FLOW_LOSS_WEIGHT 0)."""
        if self.flow_loss_weight <= 0 or not all("fuse_gt_flow" in f for f in frames):
            return None
        return torch.stack([F.pad(f["fuse_gt_flow"].to(self.device), (0, size[1] - f["fuse_gt_flow"].shape[-1],
                                                                        0, size[0] - f["fuse_gt_flow"].shape[-2]),
                                  value=float("nan")) for f in frames])

    def _flows(self, batched_inputs, key: str, targets, references, size) -> torch.Tensor:
        """Initial flow (N, 2, h, w) at the gathered map's size: from the batch, else estimated."""
        if all(key in x for x in batched_inputs):
            flows = [x[key].to(self.device) for x in batched_inputs]
        else:
            check_flow_traceable(self.initial_flow)
            flows = self.initial_flow(targets, references)
        return torch.stack([F.pad(f, (0, size[1] - f.shape[-1], 0, size[0] - f.shape[-2])) for f in flows])

    # ----------------------------------------------------------------------------------- training
    def forward(self, batched_inputs: List[Dict]):
        """Training: the loss dict of a batch of pairs. Eval: one output per video (test mapper
        dicts), ``{"video_id", "frames": [{"panoptic_seg": (ids (H, W), segments_info)}, ...]}``."""
        if self.training:
            return self.losses(batched_inputs)
        return [
            {"video_id": v["video_id"], "frames": list(run_video(self, v["frames"], self.tracker, self.inference))}
            for v in batched_inputs
        ]

    def losses(self, batched_inputs: List[Dict]) -> Dict[str, torch.Tensor]:
        """All training losses of Eq. 7 for a batch of target/reference pairs."""
        tgt = [x["frames"][0] for x in batched_inputs]
        # one-frame clips (INPUT.DATASET_MAPPER_NAME image_panoptic) train the Base: no reference
        ref = [x["frames"][1] for x in batched_inputs if len(x["frames"]) > 1]
        if len(ref) != len(tgt) and (self.fuse_head is not None or self.roi_heads.track_on or self.tube_on):
            raise ValueError("the fuse head, the track head and the tube loss train on frame pairs, got one-frame clips")
        n = len(tgt)
        # With fuse_image (INPUT.VIDEO.FUSE_GAP > 0) every frame of the pair is fused with the raw
        # frame before it, as at test; else the target with the annotated reference (tau = ±5).
        own = self.fuse_head is not None and all("fuse_image" in f for f in tgt + ref)
        # the reference too (with its own predecessor) where the track head or the tube loss sees it
        ref_own = own and not self.bidirectional and (self.roi_heads.track_on or self.tube_on)
        extra = [f["fuse_image"] for f in (tgt + ref if ref_own else tgt)] if own else []
        images = self.preprocess_image([f["image"] for f in tgt + ref] + extra)
        features, gathered = self._pyramid(images)
        feat_t = {k: v[:n] for k, v in features.items()}
        feat_r = {k: v[n:2 * n] for k, v in features.items()}
        flow_losses = []  # EPE of the refined flows where the mapper gives their ground truth
        if self.fuse_head is not None:
            raw_t, raw_r = [f["image"] for f in tgt], [f["image"] for f in ref]
            size = gathered.shape[-2:]
            if own:
                raw_pt, raw_pr = extra[:n], extra[n:]
                flow_t = self._flows(tgt, "fuse_flow", raw_t, raw_pt, size)
                feat_t = self._fuse(feat_t, gathered[:n], gathered[2 * n:3 * n], flow_t, self._flow_targets(tgt, size),
                                    flow_losses)
            else:
                flow_t = self._flows(batched_inputs, "flow", raw_t, raw_r, size)
                feat_t = self._fuse(feat_t, gathered[:n], gathered[n:2 * n], flow_t)
            if self.bidirectional:
                back = self._flows(batched_inputs, "flow_backward", raw_r, raw_t, size)
                feat_r = self._fuse(feat_r, gathered[n:2 * n], gathered[:n], back)
            elif ref_own:  # the track head and the tube loss compare fused with fused, as at test
                flow_r = self._flows(ref, "fuse_flow", raw_r, raw_pr, size)
                feat_r = self._fuse(feat_r, gathered[n:2 * n], gathered[3 * n:], flow_r, self._flow_targets(ref, size),
                                    flow_losses)
        images_t = ImageList(images.tensor[:n], images.image_sizes[:n])
        gt_t = [f["instances"].to(self.device) for f in tgt]
        gt_r = [f["instances"].to(self.device) for f in ref]

        losses = {"loss_flow": self.flow_loss_weight * torch.stack(flow_losses).mean()} if flow_losses else {}
        proposals, rpn_losses = self.proposal_generator(images_t, feat_t, gt_t)
        losses.update(rpn_losses)
        _, roi_losses = self.roi_heads(images_t, feat_t, proposals, gt_t, ref_features=feat_r, ref_targets=gt_r)
        losses.update(roi_losses)

        sem_logits, embedding = self.sem_seg_head(feat_t)
        padded = images.tensor.shape[-2:]
        sem_targets = self._pad_targets([f["sem_seg"] for f in tgt], padded, self.sem_seg_head.ignore_value)
        losses.update(self.sem_seg_head.losses(sem_logits, sem_targets))
        pan_targets = self._pad_targets([f["pan_seg"] for f in tgt], padded, PANOPTIC_IGNORE)
        losses.update(self._panoptic_losses(feat_t, gt_t, sem_logits, pan_targets))
        if self.tube_on:
            _, embedding_r = self.sem_seg_head(feat_r)
            pan_r = self._pad_targets([f["pan_seg"] for f in ref], padded, PANOPTIC_IGNORE)
            losses["loss_tube"] = self.tube_loss_weight * self._tube_loss(embedding, embedding_r, pan_targets, pan_r, gt_t, gt_r)
        return losses

    def _pad_targets(self, targets: List[torch.Tensor], size, value) -> torch.Tensor:
        out = torch.full((len(targets), *size), value, dtype=torch.long, device=self.device)
        for i, t in enumerate(targets):
            out[i, : t.shape[0], : t.shape[1]] = t.to(self.device)
        return out

    def _panoptic_losses(self, features, gt, sem_logits, pan_targets) -> Dict[str, torch.Tensor]:
        """L_panoptic (UPSNet head on the ground-truth boxes) and L_pan_edge (Eq. 5)."""
        boxes = [g.gt_boxes for g in gt]
        mask_logits = self.roi_heads.mask_logits(features, boxes, [g.gt_classes for g in gt])
        pan_losses, edge_losses = [], []
        stride = pan_targets.shape[-1] // sem_logits.shape[-1]
        size = tuple(pan_targets.shape[-2:])
        for i, g in enumerate(gt):
            logits, pasted = panoptic_logits(
                sem_logits[i], self.stuff_channels, self.thing_channels[g.gt_classes], boxes[i].tensor,
                mask_logits[i], stride=stride,
            )
            full = upsample_panoptic_logits(logits, boxes[i].tensor, len(self.stuff_channels), stride, size)
            pan_losses.append(panoptic_loss(full, pan_targets[i]))
            if self.edge_head is not None:
                x = edge_input(sem_logits[i], self.stuff_channels, self.thing_channels, pasted)
                prob = self.edge_head(x[None])[0, 0]
                target = subsample_target(pan_targets[i], stride, prob.shape[-2:])
                edge_losses.append(dice_loss(prob, edge_target(target)))
        losses = {"loss_panoptic": self.panoptic_loss_weight * torch.stack(pan_losses).mean()}
        if self.edge_head is not None:
            losses["loss_edge"] = self.edge_loss_weight * torch.stack(edge_losses).mean()
        return losses

    def _tube_codes(self, pan: torch.Tensor, gt: Instances, stride: int) -> torch.Tensor:
        """Per-pixel tube code: stuff index for stuff, S + gt_id for an instance, -1 ignored."""
        pan = subsample_target(pan, stride, (pan.shape[-2] // stride, pan.shape[-1] // stride))
        num_stuff = len(self.stuff_channels)
        codes = pan.clone()
        inst = pan >= num_stuff
        if inst.any():
            codes[inst] = num_stuff + gt.gt_ids[pan[inst] - num_stuff]
        return codes

    def _tube_loss(self, emb_t, emb_r, pan_t, pan_r, gt_t, gt_r) -> torch.Tensor:
        stride = pan_t.shape[-1] // emb_t.shape[-1]
        values = [
            tube_discrimination_loss(
                emb_t[i], emb_r[i], self._tube_codes(pan_t[i], gt_t[i], stride),
                self._tube_codes(pan_r[i], gt_r[i], stride), self.tube_temperature,
            )
            for i in range(len(gt_t))
        ]
        return torch.stack(values).mean()

    # ----------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def frame_features(self, frame: Dict, state: Optional[FrameState] = None):
        """One frame's pyramid as the heads see it online: (images, features fused with the previous
        frame's cached map, this frame's gathered map, the initial flow or None without fusion)."""
        image = frame["image"]
        images = self.preprocess_image([image])
        features, gathered = self._pyramid(images)
        flow = None
        if self.fuse_head is not None:
            ref = state if state is not None else FrameState(image, gathered)
            # a frame may carry its flow (MODEL.FLOW.NAME oracle); else the flow module estimates it
            flow = self._flows([frame], "flow", [image.to(self.device)], [ref.image.to(self.device)], gathered.shape[-2:])
            features = self._fuse(features, gathered, ref.gathered, flow)
        return images, features, gathered, flow

    @torch.no_grad()
    def inference_step(self, frame: Dict, state: Optional[FrameState] = None):
        """Process one frame online (paper §V-D2).

        Args:
            frame: a test-mapper frame: ``image`` (uint8 CHW, model input size), ``height``, ``width``.
            state: the previous frame's :class:`FrameState`, or None on a video's first frame (the
                frame is then fused with itself, as the reference of the first frame).

        Returns:
            (outputs, state): outputs has ``instances`` (detections after class-agnostic NMS and the
            score threshold, in the original image size, with ``pred_embeds`` when the track head is
            on, and ``mask_logits`` (K, M, M)), ``sem_seg_logits`` (C, h, w) and ``panoptic_logits``
            (S + K, h, w) at 1/4 of the padded input (instances not yet limited to their box, see
            ``upsample_panoptic_logits``), ``pasted_mask_logits`` (K, h, w), ``input_boxes`` (K, 4)
            in input pixels, ``image_size``
            (the input's unpadded size), ``stride`` and ``flow`` (1, 2, h, w) to the previous frame
            (None without a fuse head); ``state`` is this frame's cache.
        """
        image = frame["image"]
        images, features, gathered, flow = self.frame_features(frame, state)
        proposals, _ = self.proposal_generator(images, features, None)
        instances, _ = self.roi_heads(images, features, proposals, None)
        instances = instances[0]
        sem_logits, _ = self.sem_seg_head(features)
        if instances.has("pred_masks"):  # the ROI heads' mask probabilities, back to logits
            mask_logits = torch.logit(instances.pred_masks[:, 0], eps=1e-6)
            instances.remove("pred_masks")  # never pasted at full resolution: the merge uses logits
        else:
            mask_logits = self.roi_heads.mask_logits(features, [instances.pred_boxes], [instances.pred_classes])[0]
        stride = self.sem_seg_head.common_stride  # a number, also under tracing (not from shapes)
        pan_logits, pasted = panoptic_logits(
            sem_logits[0], self.stuff_channels, self.thing_channels[instances.pred_classes],
            instances.pred_boxes.tensor, mask_logits, stride=stride,
        )
        instances.mask_logits = mask_logits
        input_boxes = instances.pred_boxes.tensor.clone()  # detector_postprocess scales them in place
        outputs = {
            "instances": detector_postprocess(instances, frame["height"], frame["width"]),
            "sem_seg_logits": sem_logits[0],
            "panoptic_logits": pan_logits,
            "pasted_mask_logits": pasted,
            "input_boxes": input_boxes,
            "image_size": images.image_sizes[0],
            "stride": stride,
            "flow": flow,
        }
        return outputs, FrameState(image, gathered)
