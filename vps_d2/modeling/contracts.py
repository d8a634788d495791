"""Checks that the components a config selects exist and fit together, made when the model is
built (issue 24): a wrong name or a component with another interface is one :class:`UserError`
naming the key, the value and what is expected, not a TypeError deep inside a forward pass."""
from detectron2.modeling import (
    BACKBONE_REGISTRY,
    META_ARCH_REGISTRY,
    PROPOSAL_GENERATOR_REGISTRY,
    ROI_HEADS_REGISTRY,
    SEM_SEG_HEADS_REGISTRY,
)
from detectron2.modeling.anchor_generator import ANCHOR_GENERATOR_REGISTRY
from detectron2.modeling.proposal_generator.rpn import RPN_HEAD_REGISTRY
from detectron2.modeling.roi_heads import ROI_BOX_HEAD_REGISTRY, ROI_MASK_HEAD_REGISTRY

from ..utils.errors import UserError
from .flow import FLOW_REGISTRY
from .fuse import FUSE_HEAD_REGISTRY
from .track_head import TRACK_HEAD_REGISTRY

# config key -> (registry of the names it selects, what such a component is)
REGISTRY_KEYS = {
    "MODEL.META_ARCHITECTURE": (META_ARCH_REGISTRY, "meta-architecture"),
    "MODEL.BACKBONE.NAME": (BACKBONE_REGISTRY, "backbone"),
    "MODEL.ANCHOR_GENERATOR.NAME": (ANCHOR_GENERATOR_REGISTRY, "anchor generator"),
    "MODEL.PROPOSAL_GENERATOR.NAME": (PROPOSAL_GENERATOR_REGISTRY, "proposal generator"),
    "MODEL.RPN.HEAD_NAME": (RPN_HEAD_REGISTRY, "RPN head"),
    "MODEL.ROI_HEADS.NAME": (ROI_HEADS_REGISTRY, "ROI heads"),
    "MODEL.ROI_BOX_HEAD.NAME": (ROI_BOX_HEAD_REGISTRY, "box head"),
    "MODEL.ROI_MASK_HEAD.NAME": (ROI_MASK_HEAD_REGISTRY, "mask head"),
    "MODEL.SEM_SEG_HEAD.NAME": (SEM_SEG_HEADS_REGISTRY, "semantic head"),
    "MODEL.FUSE.NAME": (FUSE_HEAD_REGISTRY, "fuse head"),
    "MODEL.FLOW.NAME": (FLOW_REGISTRY, "flow source"),
    "MODEL.TRACK_HEAD.NAME": (TRACK_HEAD_REGISTRY, "track head"),
}


def config_value(cfg, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def registered(cfg, key: str):
    """The object registered under the name that ``key`` selects."""
    name, (registry, what) = config_value(cfg, key), REGISTRY_KEYS[key]
    if name not in registry:
        raise UserError(f"{key}: unknown {what} '{name}', expected one of {sorted(registry._obj_map)}")
    return registry.get(name)


def _require_subclass(cfg, key: str, base: type, why: str) -> None:
    obj = registered(cfg, key)
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise UserError(f"{key}={config_value(cfg, key)}: VPSNet needs {why} ({base.__name__} or a subclass)")


def check_vpsnet_components(cfg) -> None:
    """Called by ``VPSNet.from_config``: every name of :data:`REGISTRY_KEYS` is registered, and the
    ROI heads and semantic head have the interfaces VPSNet calls."""
    from .panoptic import UPSNetSemanticHead
    from .roi_heads import TrackROIHeads

    for key in REGISTRY_KEYS:
        registered(cfg, key)
    _require_subclass(cfg, "MODEL.ROI_HEADS.NAME", TrackROIHeads,
                      "ROI heads that accept reference features and give mask logits for the panoptic head")
    _require_subclass(cfg, "MODEL.SEM_SEG_HEAD.NAME", UPSNetSemanticHead,
                      "a semantic head that returns (logits, pixel embedding) and computes its own loss")


# detectron2's meta-architectures that build a semantic head from MODEL.SEM_SEG_HEAD.NAME and call
# it with ``(features, targets)``, which vps_d2's heads do not take.
DETECTRON2_SEMANTIC_ARCHS = ("PanopticFPN", "SemanticSegmentor")


def check_built_by_vpsnet(cfg, key: str) -> None:
    """Called by vps_d2's heads when they are built: inside detectron2's PanopticFPN or
    SemanticSegmentor they do not fit (a head built on its own, e.g. in a test, is fine)."""
    registered(cfg, "MODEL.META_ARCHITECTURE")
    if cfg.MODEL.META_ARCHITECTURE in DETECTRON2_SEMANTIC_ARCHS:
        raise UserError(
            f"{key}={config_value(cfg, key)}: a vps_d2 head, built only by VPSNet; "
            f"MODEL.META_ARCHITECTURE={cfg.MODEL.META_ARCHITECTURE} expects one of detectron2's "
            f"(e.g. {'SemSegFPNHead' if 'SEM_SEG' in key else 'StandardROIHeads'})"
        )
