"""Ground-truth initial flow (``MODEL.FLOW.NAME oracle``): for diagnostics on synthetic splits.

The flow is not estimated here: the test mapper gives each frame its ground-truth flow to the
previous frame (``flow``, from a split prepared with ``--flow``), which the model uses before asking
its flow module. This module is reached only when a frame has none, and says so.
"""
from typing import List

import torch
from torch import nn

from ...utils.errors import UserError
from .registry import FLOW_REGISTRY


class OracleFlow(nn.Module):
    def forward(self, targets: List[torch.Tensor], references: List[torch.Tensor]) -> List[torch.Tensor]:
        raise UserError(
            "MODEL.FLOW.NAME oracle: these frames carry no ground-truth flow; the oracle is for "
            "evaluating a synthetic split prepared with --flow (use dis or raft for training and "
            "for other data)"
        )


@FLOW_REGISTRY.register()
def oracle(cfg) -> OracleFlow:
    return OracleFlow()
