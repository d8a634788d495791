"""OpenCV DIS optical flow: no weights, a few ms per 1/4-scale pair on a CPU."""
from typing import List

import torch
from torch import nn

from ...data.flow import dis_flow
from .registry import FLOW_REGISTRY


class DISFlow(nn.Module):
    """DIS flow on the images (any channel order), computed on the CPU and moved to their device."""

    @torch.no_grad()
    def forward(self, targets: List[torch.Tensor], references: List[torch.Tensor]) -> List[torch.Tensor]:
        out = []
        for t, r in zip(targets, references):
            to_np = lambda x: x.permute(1, 2, 0).to("cpu", torch.uint8).numpy()  # noqa: E731
            out.append(torch.from_numpy(dis_flow(to_np(t), to_np(r))).to(t.device))
        return out


@FLOW_REGISTRY.register()
def dis(cfg) -> DISFlow:
    return DISFlow()
