"""Config keys of vps_d2, added to a detectron2 ``CfgNode`` by :func:`add_vps_config`.

Data keys live here now; model keys are added by the model's own ``add_*_config`` functions. Each
key's comment gives its meaning and the paper section / equation it implements ("§V-D1" refers to the
VPSNet++ paper in ``shared/paper``).
"""
from detectron2.config import CfgNode as CN


def add_vps_config(cfg: CN) -> None:
    """Add every vps_d2 key to ``cfg`` (in place). Call before ``merge_from_file``."""
    add_video_input_config(cfg)
    add_flow_config(cfg)


def add_video_input_config(cfg: CN) -> None:
    """How training clips are sampled from a video (paper §V-D1; SPEC §4 "Training pairs").

    Spatial augmentation reuses detectron2's keys (``INPUT.MIN_SIZE_TRAIN`` with
    ``MIN_SIZE_TRAIN_SAMPLING: "range"`` for the scale range, ``INPUT.CROP``, ``INPUT.RANDOM_FLIP``);
    the video mapper samples it once per clip and applies it to every frame of the clip.
    """
    cfg.INPUT.VIDEO = CN()
    # Frames per training clip: the target frame plus its reference frame (the paper trains on
    # pairs, §V-D1). Only 2 is supported by the fuse/track heads.
    cfg.INPUT.VIDEO.NUM_FRAMES = 2
    # Reference offset tau is drawn from [-REF_RANGE, +REF_RANGE] raw frames, tau != 0 (§V-D1: ±5).
    # References must be annotated (their ids are the track targets), so with an annotation
    # stride of 5 this means the previous or next annotated frame. A video whose annotated frames
    # are all further apart falls back to the nearest annotated frame; a one-frame video to itself.
    cfg.INPUT.VIDEO.REF_RANGE = 5
    # Annotation stride lambda (§III-C): raw frames between two annotated frames; used to turn the
    # temporal window k (raw frames) into a number of annotated frames. 0 = take the dataset's
    # ``annotation_stride`` metadata (5 for Cityscapes-VPS and synthetic, 1 for VIPER).
    cfg.INPUT.VIDEO.ANNOTATION_STRIDE = 0


def add_flow_config(cfg: CN) -> None:
    """Initial optical flow that the fuse head refines (paper §V-C1, Fig. 8; SPEC §4, §9)."""
    cfg.MODEL.FLOW = CN()
    # Source of the initial flow target->reference, in pixels at 1/4 resolution:
    # "dis" (OpenCV DIS, no weights), "raft" (torchvision RAFT, weights from MODEL.FLOW.WEIGHTS),
    # "zero" (the align module's refinement learns all of it).
    cfg.MODEL.FLOW.NAME = "dis"
    # Path of the RAFT weights (never downloaded at run time). Unused by "dis" and "zero".
    cfg.MODEL.FLOW.WEIGHTS = ""
    # Compute the initial flow in the data-loader workers during training ("dis" only): the
    # mapper then adds ``flow`` (target->reference) and ``flow_backward`` (reference->target).
    cfg.MODEL.FLOW.IN_LOADER = True
    # Implementation of the flow warp (vps_d2/layers/flow_warp.py): "auto" (compiled kernel for
    # the tensor's device, else the PyTorch reference with one warning), "cpu", "cuda", "pytorch".
    cfg.MODEL.FLOW.WARP_IMPL = "auto"


def annotation_stride(cfg: CN, metadata) -> int:
    """lambda of §III-C: ``INPUT.VIDEO.ANNOTATION_STRIDE`` if set, else the dataset's metadata."""
    stride = int(cfg.INPUT.VIDEO.ANNOTATION_STRIDE)
    if stride > 0:
        return stride
    if not hasattr(metadata, "annotation_stride"):
        raise ValueError(
            f"dataset '{metadata.name}' has no 'annotation_stride' metadata; "
            "set INPUT.VIDEO.ANNOTATION_STRIDE to a positive number of frames"
        )
    return int(metadata.annotation_stride)
