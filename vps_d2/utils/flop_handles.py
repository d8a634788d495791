"""fvcore FLOP handles for the ops fvcore counts as 0: the compiled flow warp, ``roi_align`` and max
pooling (the balanced FPN's redistribution). One FLOP is one multiply-add, fvcore's unit.

- flow warp (``vps_d2._C``): a bilinear sample per output element, 4 (the ``grid_sampler`` count);
- ``torchvision::roi_align``: per output element, sampling_ratio² bilinear samples of 4 (an adaptive
  sampling ratio, <= 0, is counted as 2, detectron2's usual value);
- ``adaptive_max_pool2d`` / ``max_pool2d``: one comparison per element of each output's window
  (the largest window, ceil(in / out), for adaptive pooling).
"""
import math
from typing import Any, Dict, List

from fvcore.nn.jit_handles import get_shape

__all__ = ["CUSTOM_OP_HANDLES", "FLOW_WARP_OP", "ROI_ALIGN_OP", "POOLING_OPS"]

FLOW_WARP_OP = "prim::PythonOp._FlowWarpFunction"
ROI_ALIGN_OP = "torchvision::roi_align"
POOLING_OPS = ("aten::adaptive_max_pool2d", "aten::max_pool2d")
ADAPTIVE_SAMPLING = 2


def _numel(val) -> int:
    return math.prod(get_shape(val))


def flow_warp_flops(inputs: List[Any], outputs: List[Any]) -> int:
    return 4 * _numel(outputs[0])


def roi_align_flops(inputs: List[Any], outputs: List[Any]) -> int:
    """inputs: (features, rois, spatial_scale, pooled_h, pooled_w, sampling_ratio, aligned)."""
    ratio = inputs[5].toIValue()
    ratio = ratio if ratio > 0 else ADAPTIVE_SAMPLING
    return 4 * ratio * ratio * _numel(outputs[0])


def adaptive_max_pool_flops(inputs: List[Any], outputs: List[Any]) -> int:
    (h, w), (oh, ow) = get_shape(inputs[0])[-2:], get_shape(outputs[0])[-2:]
    return _numel(outputs[0]) * math.ceil(h / oh) * math.ceil(w / ow)


def max_pool_flops(inputs: List[Any], outputs: List[Any]) -> int:
    """The kernel when the trace holds it as constants, else (computed from shapes, as in the
    balanced FPN) the input / output ratio."""
    node = inputs[1].node()
    kernel = [v.toIValue() for v in node.inputs()] if node.kind() == "prim::ListConstruct" else [None]
    if None in kernel:
        return adaptive_max_pool_flops(inputs, outputs)
    return _numel(outputs[0]) * math.prod(kernel * (3 - len(kernel)))


CUSTOM_OP_HANDLES: Dict[str, Any] = {
    FLOW_WARP_OP: flow_warp_flops,
    ROI_ALIGN_OP: roi_align_flops,
    "aten::adaptive_max_pool2d": adaptive_max_pool_flops,
    "aten::max_pool2d": max_pool_flops,
}
