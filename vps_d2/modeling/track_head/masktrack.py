"""MaskTrack loss: cross-entropy over [new | reference objects] of dot products (paper §V-C2, the
Track/FuseTrack baseline of Yang et al.; facts §3.6).

For an anchor r_i the logits are ``[0 | r_i · r_1, ..., r_i · r_M]`` (column 0 is the constant 0 of
"new object"); the loss is the softmax cross-entropy against its label, averaged over the anchors of
the batch. Unlike the original, an image with a single positive RoI still trains and no anchor at
all gives a zero tensor with a graph (facts §6.10).
"""

from typing import List

import torch
from torch.nn import functional as F

from .embedding_head import EmbeddingTrackHead, new_object_logits, zero_loss
from .registry import TRACK_HEAD_REGISTRY


def masktrack_loss(
    embeds: List[torch.Tensor], ref_embeds: List[torch.Tensor], labels: List[torch.Tensor]
) -> torch.Tensor:
    """Mean over anchors of CE([0 | r_i · r_jᵀ], y_i); arguments as in ``embedding_head``."""
    total, count = [], 0
    for x, ref, y in zip(embeds, ref_embeds, labels):
        if len(x) == 0:
            continue
        logits = new_object_logits(x, x.float() @ ref.float().T)  # (N, M+1)
        total.append(F.cross_entropy(logits, y, reduction="sum"))
        count += len(x)
    if count == 0:
        return zero_loss(list(embeds) + list(ref_embeds))
    return torch.stack(total).sum() / count


class MaskTrackHead(EmbeddingTrackHead):
    """Dot-product embedding trained with :func:`masktrack_loss`."""

    metric = "dot"

    def similarity(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return x.float() @ ref.float().T

    def loss(self, embeds, ref_embeds, labels) -> torch.Tensor:
        return masktrack_loss(embeds, ref_embeds, labels)


@TRACK_HEAD_REGISTRY.register()
def masktrack(cfg, input_shape) -> MaskTrackHead:
    return MaskTrackHead(cfg, input_shape)
