"""The RoI embedding shared by the track heads, and the track targets (paper §V-C2).

Conventions of every track loss here:

- ``embeds[i]`` (N_i, D): embeddings of image i's *anchors*, the positive (foreground) sampled RoIs
  of the target frame;
- ``ref_embeds[i]`` (M_i, D): embeddings r_1..r_M of the reference frame's ground-truth objects;
- ``labels[i]`` (N_i,) int64 in [0, M_i]: 1 + the index of the anchor's object among the reference
  objects, or 0 = "new object" (absent from the reference frame), the entry r_0 of the paper;
- the loss is the mean over all anchors of the batch; with no anchor it is a zero that still has a
  graph to the embeddings (never a Python float, facts §6.10).
"""

from typing import Dict, List

import torch
from torch import nn
from torch.nn import functional as F

from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from fvcore.nn import weight_init

from ...layers import scale_gradient
from ...utils.errors import UserError


def track_labels(ids: torch.Tensor, ref_ids: torch.Tensor) -> torch.Tensor:
    """Track targets of anchors from segment ids (facts §2.3).

    Args:
        ids (Tensor): (N,) int64 segment ids of the anchors' ground-truth objects.
        ref_ids (Tensor): (M,) int64 segment ids of the reference frame's objects (distinct).

    Returns:
        Tensor: (N,) int64, ``1 + j`` where ``ref_ids[j] == ids[i]``, else 0 ("new object").
    """
    ids = ids.to(torch.int64)
    if ids.numel() == 0 or ref_ids.numel() == 0:
        return torch.zeros_like(ids)
    match = ids[:, None] == ref_ids.to(ids)[None, :]  # (N, M)
    first = match.to(torch.int64).argmax(dim=1)  # first matching reference (argmax of 0/1)
    return torch.where(match.any(dim=1), first + 1, torch.zeros_like(first))


def zero_loss(tensors: List[torch.Tensor]) -> torch.Tensor:
    """A 0 connected to ``tensors``' graph: every parameter behind them gets a (zero) gradient."""
    return sum(t.sum() for t in tensors) * 0.0


class EmbeddingTrackHead(nn.Module):
    """RoI features (N, C, R, R) -> flatten -> NUM_FC fully connected layers of FC_DIM, ReLU between
    them and none after the last (the original's fc1024 -> ReLU -> fc1024, facts §3.6). The
    embedding is not normalised; a loss that needs unit vectors normalises it itself.

    The head sends ``TRUNK_GRAD_SCALE`` times its gradient back into the RoI features, i.e. into the
    FPN and backbone shared with the detector. Trained from scratch with the full gradient, the
    MaskTrack loss (unbounded dot products) gives the trunk ~50x the detector losses' gradient and the
    detector never learns (``fast_rcnn/fg_cls_accuracy`` 0.00 after 300 iterations on the synthetic
    data, against 0.47 without the track head); the paper avoids this by importing a trained *Base*
    model first (§V-D1). A small scale protects the detector in both protocols while the head's own
    layers still learn from the full gradient.

    Subclasses define ``metric`` (the similarity the head is trained with; the tracker compares by
    ``MODEL.TRACKER.EMBEDDING_METRIC``, cosine by default), :meth:`similarity` and :meth:`loss`.
    """

    metric = "dot"

    @configurable
    def __init__(
        self,
        input_shape: ShapeSpec,
        *,
        num_fc: int,
        fc_dim: int,
        loss_weight: float = 1.0,
        trunk_grad_scale: float = 1.0,
    ):
        """
        Args:
            input_shape (ShapeSpec): shape of the pooled RoI features (channels, height, width).
            num_fc (int): number of fully connected layers (>= 1).
            fc_dim (int): their width, which is the embedding dimension D.
            loss_weight (float): multiplier of ``loss_track``.
            trunk_grad_scale (float): multiplier of the gradient sent back into the RoI features.
        """
        super().__init__()
        if num_fc < 1:
            raise UserError(f"MODEL.TRACK_HEAD.NUM_FC must be >= 1, got {num_fc}")
        in_dim = input_shape.channels * (input_shape.height or 1) * (input_shape.width or 1)
        layers = []
        for k in range(num_fc):
            fc = nn.Linear(in_dim if k == 0 else fc_dim, fc_dim)
            if k < num_fc - 1:
                weight_init.c2_xavier_fill(fc)
            else:
                # tiny last layer: the pooled RoI features of an untrained trunk have norms of
                # hundreds, so with std 0.01 the dot products of two embeddings were O(10) and the
                # MaskTrack loss started at 14-15; with 0.001 they are O(0.1) and it starts within
                # a few tenths of log(M + 1) (tests/modeling/test_track_head.py checks it)
                nn.init.normal_(fc.weight, std=0.001)
                nn.init.constant_(fc.bias, 0.0)
            layers.append(fc)
            if k < num_fc - 1:
                layers.append(nn.ReLU(inplace=True))
        self.layers = nn.Sequential(*layers)
        self.embed_dim = fc_dim
        self.loss_weight = loss_weight
        self.trunk_grad_scale = trunk_grad_scale

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec):
        t = cfg.MODEL.TRACK_HEAD
        return {
            "input_shape": input_shape,
            "num_fc": t.NUM_FC,
            "fc_dim": t.FC_DIM,
            "loss_weight": t.LOSS_WEIGHT,
            "trunk_grad_scale": t.TRUNK_GRAD_SCALE,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, R, R) RoI features -> (N, D) embeddings."""
        scale = self.trunk_grad_scale if self.training else 1.0  # identity outside training
        return self.layers(torch.flatten(scale_gradient(x, scale), start_dim=1))

    def similarity(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        """(N, D), (M, D) -> (N, M) scores of the reference objects, as used by the loss."""
        raise NotImplementedError

    def loss(
        self, embeds: List[torch.Tensor], ref_embeds: List[torch.Tensor], labels: List[torch.Tensor]
    ) -> torch.Tensor:
        """The unweighted track loss (see the module docstring for the arguments)."""
        raise NotImplementedError

    def losses(
        self, embeds: List[torch.Tensor], ref_embeds: List[torch.Tensor], labels: List[torch.Tensor]
    ) -> Dict[str, torch.Tensor]:
        """``{"loss_track": LOSS_WEIGHT * loss}``; a zero with a graph to every parameter when there
        is no anchor."""
        if sum(len(e) for e in embeds) == 0:
            return {
                "loss_track": zero_loss(list(embeds) + list(ref_embeds) + list(self.parameters()))
            }
        return {"loss_track": self.loss_weight * self.loss(embeds, ref_embeds, labels)}


def new_object_logits(x: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """[0 | scores] (N, M+1), float32: prepend the constant-zero logit of "new object" (r_0)."""
    scores = scores.float()
    return torch.cat([scores.new_zeros((x.shape[0], 1)), scores], dim=1)


def cosine(x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """(N, D), (M, D) -> (N, M) cosine similarities (a zero vector has cosine 0 with everything)."""
    return F.normalize(x.float(), dim=1) @ F.normalize(ref.float(), dim=1).T
