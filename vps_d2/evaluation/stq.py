"""Segmentation and Tracking Quality (STQ; Weber et al. 2021, "STEP"), from counted video tables.

Over the annotated frames of a video (SPEC §6):

* association quality, with a ground-truth track ``g`` = one (thing class, id) over the video
  (crowd segments excluded) and a predicted track ``p`` = one (thing class, id)::

      AQ = 1/|G| Σ_g 1/|g| Σ_{p: |p∩g|>0} |p∩g| · |p∩g| / (|p| + |g| - |p∩g|)

  summed over the ground-truth tracks of all videos (G = their set). As in the STEP reference
  implementation (deeplab2), only a segment of a *thing* class can be crowd: predicted thing
  pixels on a ground-truth thing crowd region are left out of ``|p|``; on void, on stuff (crowd
  or not) they count (they are association errors of ``p``);
* segmentation quality SQ = mean IoU of the semantic classes over all annotated pixels with a
  ground-truth class (void and unlisted ground truth ignored; a predicted void pixel is a miss of
  its ground-truth class). Classes whose union is empty are skipped. No official STQ tool leaves a
  class out of the mean, so a class excluded from VPQ (VIPER's) still counts here;
* STQ = √(AQ · SQ).

Two SQ conventions (``convention``, SPEC §6):

* ``"paper"``: the mean over the dataset's classes, as defined above;
* ``"deeplab2"``: the official STEP evaluator (deeplab2, also VIPSeg's ``eval_stq_vspw.py``)
  keeps predicted void as one more column of its confusion matrix, so when any labelled pixel is
  predicted void, "void" enters the mean as one more class of IoU 0 (published STQ numbers include
  it; about 2.5 % lower STQ with 19 classes).

Everything comes from :class:`~vps_d2.evaluation.vpq.VideoTables`: no pixel is read again.
"""

from dataclasses import dataclass, field
from typing import Dict, Sequence

import numpy as np

from .vpq import VideoTables

__all__ = ["STQ_CONVENTIONS", "STQStats", "stq_video_stats", "summarize_stq"]

STQ_CONVENTIONS = ("paper", "deeplab2")


@dataclass
class STQStats:
    """Additive STQ statistics (sum them over videos with ``+``).

    Attributes:
        aq_sum (float): Σ over ground-truth tracks of their inner AQ term.
        num_tracks (int): number of ground-truth tracks.
        confusion (ndarray[C, C+1] int64): pixels by (gt class, predicted class), last column =
            predicted void.
    """

    aq_sum: float = 0.0
    num_tracks: int = 0
    confusion: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.int64))

    def __add__(self, other: "STQStats") -> "STQStats":
        if self.confusion.size == 0:
            conf = other.confusion.copy()
        elif other.confusion.size == 0:
            conf = self.confusion.copy()
        else:
            conf = self.confusion + other.confusion
        return STQStats(self.aq_sum + other.aq_sum, self.num_tracks + other.num_tracks, conf)


def stq_video_stats(tables: VideoTables, isthing: Sequence[bool]) -> STQStats:
    """STQ statistics of one video (all its annotated frames).

    Args:
        tables: the counted video.
        isthing: per class (C), whether it is a thing class.
    """
    isthing = np.asarray(isthing, bool)
    C = isthing.size
    g_keys, p_keys, n_all, g_ok, p_ok = [], [], [], [], []
    conf = np.zeros((C, C + 1), np.int64)
    for t, tri in enumerate(tables.pairs):
        g, p, n = tri[:, 0], tri[:, 1], tri[:, 2]
        cg = tables.gt_cat[t][g]
        cp = tables.pred_cat[t][p]
        labelled = cg >= 0
        col = np.where(cp >= 0, cp, C)
        conf += (
            np.bincount(
                cg[labelled] * (C + 1) + col[labelled], weights=n[labelled], minlength=C * (C + 1)
            )
            .astype(np.int64)
            .reshape(C, C + 1)
        )
        crowd = labelled & tables.gt_crowd[t][g] & isthing[np.maximum(cg, 0)]
        gt_track = labelled & ~crowd & isthing[np.maximum(cg, 0)]
        pred_track = (cp >= 0) & isthing[np.maximum(cp, 0)] & ~crowd
        g_keys.append(g * C + np.maximum(cg, 0))
        p_keys.append(p * C + np.maximum(cp, 0))
        n_all.append(n)
        g_ok.append(gt_track)
        p_ok.append(pred_track)
    if not n_all:
        return STQStats(0.0, 0, conf)
    gk, pk, n = np.concatenate(g_keys), np.concatenate(p_keys), np.concatenate(n_all)
    gok, pok = np.concatenate(g_ok), np.concatenate(p_ok)

    g_ids, g_inv = np.unique(gk[gok], return_inverse=True)
    g_size = np.bincount(g_inv.ravel(), weights=n[gok])
    p_ids, p_inv = np.unique(pk[pok], return_inverse=True)
    p_size = np.bincount(p_inv.ravel(), weights=n[pok])
    both = gok & pok
    gi = np.searchsorted(g_ids, gk[both])
    pi = np.searchsorted(p_ids, pk[both])
    pair, pair_inv = np.unique(gi * max(p_ids.size, 1) + pi, return_inverse=True)
    inter = np.bincount(pair_inv.ravel(), weights=n[both])
    gi, pi = pair // max(p_ids.size, 1), pair % max(p_ids.size, 1)
    term = inter * inter / (p_size[pi] + g_size[gi] - inter) / g_size[gi]
    return STQStats(float(term.sum()), int(g_ids.size), conf)


def summarize_stq(stats: STQStats, convention: str = "paper") -> Dict[str, object]:
    """AQ, SQ (= mIoU), STQ as fractions, and the per-class IoU (None where undefined).

    Args:
        convention: ``"paper"`` or ``"deeplab2"`` (module docstring).
    """
    if convention not in STQ_CONVENTIONS:
        raise ValueError(f"STQ convention must be one of {STQ_CONVENTIONS}, got '{convention}'")
    conf = stats.confusion
    C = conf.shape[0]
    tp = np.diag(conf[:, :C]).astype(np.float64)
    union = conf.sum(axis=1) + conf[:, :C].sum(axis=0) - tp
    iou = [float(tp[c] / union[c]) if union[c] > 0 else None for c in range(C)]
    used = [v for v in iou if v is not None]
    if convention == "deeplab2" and C and conf[:, C].sum() > 0:
        used.append(0.0)  # predicted void: one more class, never a true positive
    sq = float(np.mean(used)) if used else 0.0
    aq = stats.aq_sum / stats.num_tracks if stats.num_tracks else 0.0
    return {"AQ": aq, "SQ": sq, "STQ": float(np.sqrt(aq * sq)), "per_class_iou": iou}
