"""Contrastive track loss with hard negatives (paper §V-C2, Eq. 3-4; SPEC §9 "Eq. 3-4").

For an anchor r_i with target y_i in [0, M] over the entries [r_0 | r_1..r_M]:

- A(r_i, r_j) = cos(r_i, r_j) / lambda for a reference object j >= 1 (Eq. 4); the "new object"
  entry r_0 is the zero vector, whose cosine is undefined, so its logit is the constant 0;
- N_h = the top-min(NUM_HARD_NEGATIVES, M) entries by A among the M *other* entries (the reference
  objects other than y_i, plus r_0 when y_i != 0);
- loss_i = -log(e^{A_y} / (e^{A_y} + C · Σ_{j in N_h} e^{A_j})) (Eq. 3), averaged over the anchors
  (the paper sums; the mean keeps the scale independent of the number of RoIs, like the other
  detectron2 losses).

Negatives are chosen without gradient (a top-k); the loss back-propagates through the chosen
logits, the target's logit and both frames' embeddings.
"""

import math
from typing import List

import torch

from detectron2.config import configurable

from ...utils.errors import UserError
from .embedding_head import EmbeddingTrackHead, cosine, new_object_logits, zero_loss
from .registry import TRACK_HEAD_REGISTRY


def contrastive_track_loss(
    embeds: List[torch.Tensor],
    ref_embeds: List[torch.Tensor],
    labels: List[torch.Tensor],
    temperature: float = 0.1,
    neg_weight: float = 1.0,
    num_hard_negatives: int = 4,
) -> torch.Tensor:
    """Eq. 3 averaged over anchors; arguments as in ``embedding_head``.

    Args:
        temperature (float): lambda of Eq. 4 (> 0).
        neg_weight (float): C of Eq. 3 (>= 0).
        num_hard_negatives (int): N_h's cap; N_h = min(num_hard_negatives, M).
    """
    if temperature <= 0 or neg_weight < 0 or num_hard_negatives < 0:
        raise UserError(
            "contrastive track loss needs TEMPERATURE > 0, NEG_WEIGHT >= 0 and "
            f"NUM_HARD_NEGATIVES >= 0; got {temperature}, {neg_weight}, {num_hard_negatives}"
        )
    total, count = [], 0
    for x, ref, y in zip(embeds, ref_embeds, labels):
        if len(x) == 0:
            continue
        logits = new_object_logits(x, cosine(x, ref) / temperature)  # (N, M+1), column 0 = r_0
        y = y.view(-1, 1)
        pos = logits.gather(1, y)  # (N, 1): A(r_i, r_{y_i}), or 0 for "new"
        k = min(num_hard_negatives, ref.shape[0]) if neg_weight > 0 else 0  # M other entries
        terms = [pos]
        if k > 0:
            others = logits.scatter(1, y, float("-inf"))  # the target is not its own negative
            terms.append(others.topk(k, dim=1).values + math.log(neg_weight))
        total.append((torch.logsumexp(torch.cat(terms, dim=1), dim=1) - pos[:, 0]).sum())
        count += len(x)
    if count == 0:
        return zero_loss(list(embeds) + list(ref_embeds))
    return torch.stack(total).sum() / count


class ContrastiveTrackHead(EmbeddingTrackHead):
    """Embedding trained with :func:`contrastive_track_loss`; compared by cosine / temperature."""

    metric = "cosine"

    @configurable
    def __init__(
        self,
        input_shape,
        *,
        temperature: float,
        neg_weight: float,
        num_hard_negatives: int,
        **kwargs,
    ):
        """
        Args:
            temperature, neg_weight, num_hard_negatives: lambda, C and the N_h cap of Eq. 3-4.
            input_shape, kwargs: see :class:`EmbeddingTrackHead`.
        """
        super().__init__(input_shape, **kwargs)
        self.temperature = temperature
        self.neg_weight = neg_weight
        self.num_hard_negatives = num_hard_negatives

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        t = cfg.MODEL.TRACK_HEAD
        ret.update(
            temperature=t.TEMPERATURE,
            neg_weight=t.NEG_WEIGHT,
            num_hard_negatives=t.NUM_HARD_NEGATIVES,
        )
        return ret

    def similarity(self, x: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
        return cosine(x, ref) / self.temperature

    def loss(self, embeds, ref_embeds, labels) -> torch.Tensor:
        return contrastive_track_loss(
            embeds, ref_embeds, labels, self.temperature, self.neg_weight, self.num_hard_negatives
        )


@TRACK_HEAD_REGISTRY.register()
def contrastive(cfg, input_shape) -> ContrastiveTrackHead:
    return ContrastiveTrackHead(cfg, input_shape)
