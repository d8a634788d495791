"""Semantic head, UPSNet-style panoptic logits and loss, panoptic edge head (Eq. 5) and tube-id
discrimination loss (Eq. 6). Importing registers ``UPSNetSemanticHead`` in ``SEM_SEG_HEADS_REGISTRY``."""
from .edge_head import EDGE_NO_THING_LOGIT, EdgeHead, dice_loss, edge_input, edge_target
from .panoptic_logits import OUTSIDE_BOX_LOGIT, box_inside, panoptic_logits, paste_mask_logits, upsample_panoptic_logits
from .panoptic_loss import panoptic_loss, subsample_target
from .semantic_head import UPSNetSemanticHead
from .tube_loss import tube_discrimination_loss

__all__ = [
    "UPSNetSemanticHead",
    "OUTSIDE_BOX_LOGIT",
    "paste_mask_logits",
    "panoptic_logits",
    "upsample_panoptic_logits",
    "box_inside",
    "subsample_target",
    "panoptic_loss",
    "EDGE_NO_THING_LOGIT",
    "edge_target",
    "edge_input",
    "EdgeHead",
    "dice_loss",
    "tube_discrimination_loss",
]
