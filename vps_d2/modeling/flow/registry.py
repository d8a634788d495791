from detectron2.utils.registry import Registry

from ...utils.errors import UserError

FLOW_REGISTRY = Registry("FLOW")
FLOW_REGISTRY.__doc__ = """
Initial optical flow estimators, selected by ``MODEL.FLOW.NAME``. The registered object is called
with ``obj(cfg)`` and returns an ``nn.Module`` whose ``forward(targets, references)`` takes two lists
of uint8 CHW image tensors (the same sizes pairwise) and returns a list of float32 tensors
(2, ceil(H/4), ceil(W/4)): the flow target->reference in pixels at 1/4 resolution (channel 0 = dx).
"""


def build_initial_flow(cfg):
    name = cfg.MODEL.FLOW.NAME
    if name not in FLOW_REGISTRY:
        raise UserError(f"MODEL.FLOW.NAME: unknown flow source '{name}', expected one of {sorted(FLOW_REGISTRY._obj_map)}")
    return FLOW_REGISTRY.get(name)(cfg)
