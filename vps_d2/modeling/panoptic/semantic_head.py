"""UPSNet-style semantic head (paper §V-B/§V-C via UPSNet; facts §3.4; SPEC §9 "Semantic head").

Layout (facts §3.4): ONE conv stack shared by every FPN level —
[3x3 conv in->in, GN, ReLU; 3x3 conv in->D, GN, ReLU; 3x3 conv D->D, GN, ReLU] — each level's output
is upsampled bilinearly (align_corners=False) to the finest level's size (P2, 1/4 of the padded
image), the L levels are concatenated into the pixel embedding U (L·D channels, 512 for D = 128,
L = 4) and a 1x1 conv gives the C semantic logits.

Deviation (SPEC §9): the original uses deformable 3x3 convs; detectron2's deformable conv is not
available here (its compiled part is not loaded), so the stack uses regular 3x3 convs with GroupNorm.
The original's loss is CE at full resolution on the logits upsampled x4 (facts §3.4); ours does the
same (upsampled to the target's size), times ``loss_weight`` (the original ignored its weight).
"""
from typing import Dict, List, Tuple

import fvcore.nn.weight_init as weight_init
import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.layers import Conv2d, ShapeSpec, get_norm
from detectron2.modeling import SEM_SEG_HEADS_REGISTRY
from torch import nn

__all__ = ["UPSNetSemanticHead"]


@SEM_SEG_HEADS_REGISTRY.register()
class UPSNetSemanticHead(nn.Module):
    """Semantic logits and the pixel embedding U used by Eq. 6.

    ``forward(features) -> (logits (N, C, h, w), embedding (N, L·D, h, w))`` at the finest input
    level's resolution; ``losses(logits, targets) -> {"loss_sem_seg": ...}``.
    """

    @configurable
    def __init__(
        self,
        input_shape: Dict[str, ShapeSpec],
        *,
        num_classes: int,
        conv_dims: int,
        common_stride: int,
        norm: str = "GN",
        loss_weight: float = 1.0,
        ignore_value: int = 255,
    ):
        """
        Args:
            input_shape: shapes of the input features, in the order they are concatenated; all
                levels must have the same channel count (the stack is shared).
            num_classes: C, every semantic category (stuff and things).
            conv_dims: D, output channels of the 2nd and 3rd convs.
            common_stride: stride of the outputs; must be the finest input level's stride.
            norm: normalisation of every conv ("GN" as in UPSNet; "" for none).
            loss_weight: weight of ``loss_sem_seg`` (Eq. 7: 1.0).
            ignore_value: label ignored by the loss.
        """
        super().__init__()
        self.in_features: List[str] = list(input_shape.keys())
        channels = {input_shape[f].channels for f in self.in_features}
        if len(channels) != 1:
            raise ValueError(f"UPSNetSemanticHead shares one conv stack over levels; got channels {channels}")
        in_channels = channels.pop()
        finest = min(input_shape[f].stride for f in self.in_features)
        if finest != common_stride:
            raise ValueError(f"COMMON_STRIDE {common_stride} != finest input stride {finest}")
        self.common_stride = common_stride
        self.finest = min(self.in_features, key=lambda f: input_shape[f].stride)
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight
        self.num_classes = num_classes
        self.embed_dim = conv_dims * len(self.in_features)
        layers = []
        for c_in, c_out in ((in_channels, in_channels), (in_channels, conv_dims), (conv_dims, conv_dims)):
            conv = Conv2d(c_in, c_out, 3, padding=1, bias=not norm, norm=get_norm(norm, c_out), activation=F.relu)
            weight_init.c2_msra_fill(conv)  # Kaiming (paper §V-D1 initialises new layers this way)
            layers.append(conv)
        self.shared = nn.Sequential(*layers)
        self.predictor = Conv2d(self.embed_dim, num_classes, 1)
        nn.init.normal_(self.predictor.weight, std=0.01)  # start near uniform class scores
        nn.init.zeros_(self.predictor.bias)

    @classmethod
    def from_config(cls, cfg, input_shape: Dict[str, ShapeSpec]):
        from ..contracts import check_built_by_vpsnet

        check_built_by_vpsnet(cfg, "MODEL.SEM_SEG_HEAD.NAME")
        head = cfg.MODEL.SEM_SEG_HEAD
        return {
            "input_shape": {k: input_shape[k] for k in head.IN_FEATURES},
            "num_classes": head.NUM_CLASSES,
            "conv_dims": head.CONVS_DIM,
            "common_stride": head.COMMON_STRIDE,
            "norm": head.NORM,
            "loss_weight": head.LOSS_WEIGHT,
            "ignore_value": head.IGNORE_VALUE,
        }

    def forward(self, features: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Returns (logits (N, C, h, w), embedding U (N, L·D, h, w)); (h, w) = the finest level's size."""
        size = features[self.finest].shape[-2:]
        levels = []
        for f in self.in_features:
            x = self.shared(features[f])
            if x.shape[-2:] != size:
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
            levels.append(x)
        embedding = torch.cat(levels, dim=1)
        return self.predictor(embedding), embedding

    def losses(self, logits: torch.Tensor, targets: torch.Tensor) -> Dict[str, torch.Tensor]:
        """CE of the logits upsampled (bilinear) to the targets' size (N, H, W); ``ignore_value``
        pixels are ignored; mean over the others (0 with a graph when there are none)."""
        logits = F.interpolate(logits.float(), size=targets.shape[-2:], mode="bilinear", align_corners=False)
        total = F.cross_entropy(logits, targets, ignore_index=self.ignore_value, reduction="sum")
        count = (targets != self.ignore_value).sum().clamp(min=1)
        return {"loss_sem_seg": self.loss_weight * total / count}
