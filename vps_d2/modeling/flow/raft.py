"""torchvision RAFT as the initial flow, with weights from a local path (never downloaded)."""
import os
from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from ...data.flow import FLOW_STRIDE, flow_size
from ...utils.errors import UserError
from .registry import FLOW_REGISTRY


class RAFTFlow(nn.Module):
    """Frozen RAFT (torchvision ``raft_large``/``raft_small`` architecture, chosen by the weights).

    Frames are padded to a multiple of 8, flow is estimated at full resolution and resized to
    1/4 with its values divided by 4. The estimate is frozen: the align module refines it (§V-C1).
    """

    def __init__(self, weights: str, image_format: str = "BGR"):
        super().__init__()
        from torchvision.models.optical_flow import raft_large, raft_small

        if not weights or not os.path.isfile(weights):
            raise UserError(
                f"MODEL.FLOW.WEIGHTS: RAFT weights file '{weights}' not found; RAFT needs a local "
                "torchvision RAFT state dict (weights are never downloaded), or use MODEL.FLOW.NAME dis"
            )
        state = torch.load(weights, map_location="cpu", weights_only=True)
        small = not any(k.startswith("update_block.encoder.convc2") for k in state)
        self.model = (raft_small if small else raft_large)(weights=None)
        self.model.load_state_dict(state)
        self.model.eval().requires_grad_(False)
        self.bgr = image_format == "BGR"

    def train(self, mode: bool = True):  # always frozen
        return super().train(False)

    def _prepare(self, images: List[torch.Tensor]) -> torch.Tensor:
        x = torch.stack([im.float() for im in images])
        if self.bgr:
            x = x.flip(1)
        h, w = x.shape[-2:]
        return F.pad(x / 127.5 - 1.0, (0, (-w) % 8, 0, (-h) % 8), mode="replicate")

    @torch.no_grad()
    def forward(self, targets: List[torch.Tensor], references: List[torch.Tensor]) -> List[torch.Tensor]:
        h, w = targets[0].shape[-2:]
        flow = self.model(self._prepare(targets), self._prepare(references))[-1][..., :h, :w]
        small = F.interpolate(flow, size=flow_size(h, w), mode="bilinear", align_corners=False)
        return list(small / FLOW_STRIDE)


@FLOW_REGISTRY.register()
def raft(cfg) -> RAFTFlow:
    return RAFTFlow(cfg.MODEL.FLOW.WEIGHTS, cfg.INPUT.FORMAT)
