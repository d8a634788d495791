"""ROI heads; importing registers ``TrackROIHeads`` in detectron2's ``ROI_HEADS_REGISTRY``."""

from .track_roi_heads import TrackROIHeads, class_agnostic_nms, track_targets  # noqa: F401
