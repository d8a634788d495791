"""Per-frame analysis of a VPSNet as it runs online (``tools/analyze_model.py``): FLOPs, parameters
and activations of one frame's network, given the previous frame's cached state and the initial
flow between the two frames, with fvcore and the handles of :mod:`vps_d2.utils.flop_handles`."""
from typing import Dict, Tuple

import numpy as np
import torch
from detectron2.data import transforms as T
from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis
from torch import nn

from ..export.frame_network import FrameNetwork
from ..utils.flop_handles import CUSTOM_OP_HANDLES, FLOW_WARP_OP, POOLING_OPS, ROI_ALIGN_OP

__all__ = ["CUSTOM_OPS", "frame_tensor", "online_frame_inputs", "flop_analysis", "activation_analysis", "custom_op_flops",
           "fix_detections"]

def _short(op: str) -> str:  # fvcore's by_operator() names: without the namespace
    return op.split("::", 1)[1]


# the ops whose share of the total is printed (the compiled warp, or its grid_sample reference)
CUSTOM_OPS = {
    "flow warp": (_short(FLOW_WARP_OP), "grid_sampler"),
    "roi_align": (_short(ROI_ALIGN_OP),),
    "max pooling": tuple(_short(op) for op in POOLING_OPS),
}


def frame_tensor(cfg, frame_bgr: np.ndarray) -> torch.Tensor:
    """A BGR frame as the model's uint8 (3, H, W) input (test-time resize, channel order)."""
    image = frame_bgr[:, :, ::-1] if cfg.INPUT.FORMAT == "RGB" else frame_bgr
    resized = T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice").get_transform(image).apply_image(image)
    return torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1)))


@torch.no_grad()
def online_frame_inputs(model: nn.Module, previous: torch.Tensor, current: torch.Tensor) -> Tuple[FrameNetwork, tuple]:
    """The network of frame ``current`` and its inputs: the previous frame's gathered map (from
    running it online) and the initial flow of the configured source (computed here, outside)."""
    _, state = model.inference_step({"image": previous, "height": previous.shape[1], "width": previous.shape[2]})
    size = state.gathered.shape[-2:]
    if model.fuse_head is not None:
        flow = model._flows([{}], "flow", [current], [previous], size)
    else:
        flow = torch.zeros(1, 2, *size)
    net = FrameNetwork(model, current.shape[-2:], portable_warp=False)
    return net, (current[None].float(), state.gathered, flow, torch.tensor([False]))


@torch.no_grad()
def fix_detections(model: nn.Module, count: int) -> None:
    """Make a model with random weights keep ``count`` detections per frame (as
    ``benchmarks/bench_model.py`` does): with zeroed box regressors the boxes are the anchors and
    proposals themselves (random deltas make degenerate boxes, which are dropped), and with a score
    threshold of 0 the top ``count`` are kept, so the per-detection work is that of a trained model."""
    for layer in (model.proposal_generator.rpn_head.anchor_deltas, model.roi_heads.box_predictor.bbox_pred):
        layer.weight.zero_()
        layer.bias.zero_()
    model.roi_heads.box_predictor.test_score_thresh = 0.0
    model.roi_heads.box_predictor.test_topk_per_image = count


def _quiet(analysis):
    return analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)


def flop_analysis(net: FrameNetwork, inputs: tuple) -> FlopCountAnalysis:
    return _quiet(FlopCountAnalysis(net, inputs).set_op_handle(**CUSTOM_OP_HANDLES))


def activation_analysis(net: FrameNetwork, inputs: tuple) -> ActivationCountAnalysis:
    return _quiet(ActivationCountAnalysis(net, inputs))


def custom_op_flops(analysis: FlopCountAnalysis) -> Dict[str, float]:
    """FLOPs of each of :data:`CUSTOM_OPS` in ``analysis``."""
    by_op = analysis.by_operator()
    return {name: float(sum(by_op.get(op, 0) for op in ops)) for name, ops in CUSTOM_OPS.items()}
