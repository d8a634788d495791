"""Affinity between the current frame's detections and the tracks in memory (SPEC §9 "Tracking cues").

    A[i, j]  = w_app · appearance[i, j] + w_mask · maskIoU(m_i, warp(m_j)) + w_box · boxIoU(b_i, b_j)
               + w_cls · [c_i = c_j]
    new[i]   = w_app · appearance[i, new] + w_cls + w_score · log(s_i)

``appearance`` is the log-softmax over [new object | tracks] of the learned embedding similarity,
cosine / temperature for every track head (Eq. 4). The original used a raw dot product for the
MaskTrack head, as it is trained; on the same embeddings that re-identifies 44 % of objects against
95 % by cosine, every dot product is positive (so appearance alone almost never starts a track) and
its spread (5-18) swamps the IoU term (issue 22). "dot" remains selectable. The "new object" option agrees with the detection's own class (w_cls, the
original's dummy column, facts §3.6).

The detection score is a cue *against starting a track*: a confident detection may start one freely,
a doubtful one (log s_i < 0) must be far from every track before it becomes a new object, since it is
more likely a known object seen badly in this frame than a new one. (The original added w_score ·
log s_i to every option of detection i, which cannot change any assignment.) Defaults follow the
original's weights (1 · appearance, 2 · IoU, 10 · class, 1 · log-score). One cue alone gives Table
IV's rows: class only (Cls-Sort), mask IoU only (IoU-Match), appearance only (Feat-Match). Exact ties
go to the new object (see ``VideoTracker``).
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AffinityWeights:
    appearance: float = 1.0
    mask_iou: float = 2.0
    box_iou: float = 0.0
    same_class: float = 10.0
    log_score: float = 1.0
    new_object_logit: float = 0.0  # appearance logit of the "new object" entry (the zero vector r_0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of XYXY boxes, (N, 4) x (M, 4) -> (N, M)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(dim=2)
    return inter / (area_a[:, None] + area_b[None] - inter).clamp(min=1e-9)


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of soft or binary masks, (N, H, W) x (M, H, W) -> (N, M)."""
    a, b = a.flatten(1).float(), b.flatten(1).float()
    inter = a @ b.T
    return inter / (a.sum(1)[:, None] + b.sum(1)[None] - inter).clamp(min=1e-9)


EMBEDDING_METRICS = ("cosine", "dot")


def embedding_similarity(x: torch.Tensor, memory: torch.Tensor, metric: str, temperature: float) -> torch.Tensor:
    """Track-head similarity (N, M): "cosine" / temperature (Eq. 4) or a raw "dot" product."""
    if metric == "dot":
        return x @ memory.T
    if metric == "cosine":
        return F.normalize(x, dim=1) @ F.normalize(memory, dim=1).T / temperature
    raise ValueError(f"unknown embedding metric '{metric}'; expected 'dot' or 'cosine'")


def affinity_matrix(det, tracks, weights: AffinityWeights, metric: str = "cosine", temperature: float = 0.1):
    """Scores of every detection against every track, and of each detection starting a new track.

    Args:
        det: current detections with ``embeds`` (N, D), ``boxes`` (N, 4), ``classes`` (N,),
            ``scores`` (N,), ``masks`` (N, H, W).
        tracks: the same fields for the M tracks in memory; ``masks`` already warped to this frame.

    Returns:
        (A (N, M), new (N,)).
    """
    n, m = len(det.scores), len(tracks.scores)
    sims = embedding_similarity(det.embeds, tracks.embeds, metric, temperature) if m else det.scores.new_zeros((n, 0))
    logits = torch.cat([sims.new_full((n, 1), weights.new_object_logit), sims], dim=1)
    appearance = logits.log_softmax(dim=1)
    log_score = weights.log_score * det.scores.clamp(min=1e-6).log()
    new = weights.appearance * appearance[:, 0] + weights.same_class + log_score
    a = weights.appearance * appearance[:, 1:]
    if m:
        a = a + weights.same_class * (det.classes[:, None] == tracks.classes[None]).float()
        if weights.mask_iou:
            a = a + weights.mask_iou * mask_iou(det.masks, tracks.masks)
        if weights.box_iou:
            a = a + weights.box_iou * box_iou(det.boxes, tracks.boxes)
    return a, new
