"""Online video inference: frame by frame, cached state, panoptic merge, tracking (paper §V-D2;
SPEC §5). Used by ``VPSNet`` in eval mode and by the demo's streaming predictor."""
from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, List

import torch

from ...layers.flow_warp import flow_warp
from ...tracking import AffinityWeights, Detections, VideoTracker
from ...tracking.affinity import EMBEDDING_METRICS
from ...utils.errors import UserError
from ..postprocessing import merge_panoptic

REFERENCE_AREA = 1024 * 2048  # STUFF_AREA_LIMIT is given in pixels of a full Cityscapes frame


@dataclass
class InferenceOptions:
    overlap_thresh: float = 0.3
    stuff_area_limit: float = 2048.0
    tracking: bool = True


class VideoSession:
    """The state of one video being processed online; feed it frames in order with :meth:`step`.

    Output segment ids are unique per (category, track) within the video, starting at 1; stuff
    classes get one id each. ``track_id`` is the tracker's id (None for stuff).
    """

    def __init__(self, model, tracker: VideoTracker, options: InferenceOptions):
        self.model = model
        self.tracker = tracker
        self.options = options
        self.state = None
        self.segment_ids: Dict[tuple, int] = {}
        self.tracker.reset()

    def _segment_id(self, key: tuple) -> int:
        if key not in self.segment_ids:
            self.segment_ids[key] = len(self.segment_ids) + 1
        return self.segment_ids[key]

    def step(self, frame: Dict) -> Dict:
        """One frame in (a test-mapper frame dict), ``{"panoptic_seg": (ids, segments_info)}`` out."""
        return self.assign(*self.infer(frame))

    def infer(self, frame: Dict):
        """The network and the panoptic merge of one frame: (outputs, channel map, kept detections),
        everything of a frame that does not depend on the tracker (see :meth:`assign`)."""
        model = self.model
        out, self.state = model.inference_step(frame, self.state)
        inst = out["instances"]
        height, width = frame["height"], frame["width"]
        limit = self.options.stuff_area_limit * height * width / REFERENCE_AREA
        channel_map, kept = merge_panoptic(
            out["panoptic_logits"], out["pasted_mask_logits"], out["input_boxes"], inst.scores, inst.pred_classes,
            len(model.stuff_channels), out["image_size"], (height, width), out["stride"], self.options.overlap_thresh,
            limit,
        )
        return out, channel_map, kept

    def assign(self, out: Dict, channel_map: torch.Tensor, kept: torch.Tensor) -> Dict:
        """Track ids and video-consistent segment ids for one frame's :meth:`infer` result (frames in
        order); re-running it with another tracker re-tracks a video without the network."""
        model = self.model
        inst = out["instances"]
        num_stuff = len(model.stuff_channels)
        height, width = channel_map.shape
        track_ids = self._track(out, kept)
        ids = torch.zeros((height, width), dtype=torch.long, device=channel_map.device)
        segments: List[Dict] = []
        for c in torch.unique(channel_map).tolist():
            if c < 0:
                continue
            mask = channel_map == c
            if c < num_stuff:
                category, track, score, isthing = int(model.stuff_channels[c]), None, 1.0, False
            else:
                j = int(kept[c - num_stuff])
                category = int(model.thing_channels[inst.pred_classes[j]])
                track, score, isthing = track_ids[c - num_stuff], float(inst.scores[j]), True
            seg_id = self._segment_id((category, track))
            ids[mask] = seg_id
            segments.append({"id": seg_id, "category_id": category, "isthing": isthing, "track_id": track,
                             "score": score, "area": int(mask.sum())})
        return {"panoptic_seg": (ids, segments)}

    def _track(self, out: Dict, kept: torch.Tensor) -> List[int]:
        inst = out["instances"][kept]
        masks = out["pasted_mask_logits"][kept].sigmoid()
        if not self.options.tracking:  # a new id for every detection in every frame (a baseline)
            return [self.tracker.new_id() for _ in range(len(inst))]
        embeds = inst.pred_embeds if inst.has("pred_embeds") else masks.new_zeros((len(inst), 1))
        det = Detections(embeds, inst.pred_boxes.tensor, inst.pred_classes, inst.scores, masks)
        flow = out.get("flow")
        warp = None if flow is None else (lambda m: flow_warp(m[:, None], flow.expand(len(m), -1, -1, -1))[:, 0])
        return self.tracker.update(det, warp)


def run_video(model, frames: Iterable[Dict], tracker: VideoTracker, options: InferenceOptions) -> Iterator[Dict]:
    """Yield the output of each frame of one video, in order."""
    session = VideoSession(model, tracker, options)
    for frame in frames:
        yield session.step(frame)


def build_tracker(cfg, track_head_on: bool) -> VideoTracker:
    t = cfg.MODEL.TRACKER
    if t.EMBEDDING_METRIC not in EMBEDDING_METRICS:
        raise UserError(f"MODEL.TRACKER.EMBEDDING_METRIC: unknown metric '{t.EMBEDDING_METRIC}', "
                        f"expected one of {list(EMBEDDING_METRICS)}")
    weights = AffinityWeights(
        appearance=t.APPEARANCE_WEIGHT if track_head_on else 0.0, mask_iou=t.MASK_IOU_WEIGHT,
        box_iou=t.BOX_IOU_WEIGHT, same_class=t.CLASS_WEIGHT, log_score=t.SCORE_WEIGHT,
        new_object_logit=t.NEW_OBJECT_LOGIT,
    )
    return VideoTracker(
        weights=weights, metric=t.EMBEDDING_METRIC, temperature=cfg.MODEL.TRACK_HEAD.TEMPERATURE,
        memory_frames=t.MEMORY_FRAMES, embed_momentum=t.EMBED_MOMENTUM,
    )


def inference_options(cfg) -> InferenceOptions:
    return InferenceOptions(
        overlap_thresh=cfg.MODEL.PANOPTIC.MASK_OVERLAP_THRESH,
        stuff_area_limit=cfg.MODEL.PANOPTIC.STUFF_AREA_LIMIT,
        tracking=cfg.MODEL.TRACKER.ENABLED,
    )
