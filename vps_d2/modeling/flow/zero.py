"""Zero initial flow: the align module's shallow flownet learns the whole flow (SPEC §4)."""
from typing import List

import torch
from torch import nn

from ...data.flow import flow_size
from .registry import FLOW_REGISTRY


class ZeroFlow(nn.Module):
    def forward(self, targets: List[torch.Tensor], references: List[torch.Tensor]) -> List[torch.Tensor]:
        return [t.new_zeros((2, *flow_size(*t.shape[-2:])), dtype=torch.float32) for t in targets]


@FLOW_REGISTRY.register()
def zero(cfg) -> ZeroFlow:
    return ZeroFlow()
