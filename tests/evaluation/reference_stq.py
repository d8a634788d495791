"""A straightforward re-statement of the official STQ evaluator (deeplab2's numpy
``STQuality``, which VIPSeg's ``eval_stq_vspw.py`` also uses), written from its description to
check the fast STQ against it; test-only, slow.

Per frame, both maps become panoptic labels ``class << 16 | instance`` (void: class 255):

* semantic: a confusion matrix of (ground-truth class, predicted class) with void as one extra
  row and column; the void row is dropped; IoU per class over classes whose union is non-empty,
  the void column included as a class;
* association, per video: ground-truth tracks are thing labels whose instance is not 0 (instance 0
  of a thing class is crowd); predicted tracks are predicted thing labels outside ground-truth
  crowd; AQ sums, per ground-truth track, ``Σ_p |p∩g|² / |p∪g| / |g|``, over all videos,
  divided by the number of ground-truth tracks.
"""
from collections import defaultdict

import numpy as np

SHIFT = 16
VOID = 255


def official_stq(videos, isthing):
    """(AQ, SQ, STQ) of in-memory videos (``reference_vpq`` format), official algorithm."""
    C = len(isthing)
    things = {c for c in range(C) if isthing[c]}
    conf = np.zeros((C + 1, C + 1), np.int64)
    aq_sum, num_tracks = 0.0, 0
    for video in videos:
        order = {}  # one instance number per id over the video, as the official scripts do
        for f in video:
            for s in f["gt_segments"]:
                order.setdefault(("g", s["id"]), len(order))
            for s in f["pred_segments"]:
                order.setdefault(("p", s["id"]), len(order))
        gt_size, pred_size, inter = defaultdict(int), defaultdict(int), defaultdict(int)
        for f in video:
            y_true = np.full(f["gt"].shape, VOID << SHIFT, np.int64)
            for s in f["gt_segments"]:
                crowd = s.get("iscrowd", 0) and s["category_id"] in things
                inst = 0 if crowd else 1 + order[("g", s["id"])]
                y_true[f["gt"] == s["id"]] = (s["category_id"] << SHIFT) | inst
            y_pred = np.full(f["pred"].shape, VOID << SHIFT, np.int64)
            for s in f["pred_segments"]:
                inst = 1 + order[("p", s["id"])]
                y_pred[f["pred"] == s["id"]] = (s["category_id"] << SHIFT) | inst
            sem_t, sem_p = y_true >> SHIFT, y_pred >> SHIFT
            sem_t = np.where(sem_t == VOID, C, sem_t)
            sem_p = np.where(sem_p == VOID, C, sem_p)
            np.add.at(conf, (sem_t.ravel(), sem_p.ravel()), 1)
            label_mask = np.isin(sem_t, list(things))
            pred_mask = np.isin(sem_p, list(things))
            crowd = label_mask & ((y_true & 0xFFFF) == 0)
            label_mask &= ~crowd
            pred_mask &= ~crowd
            for v in y_pred[pred_mask].tolist():
                pred_size[v] += 1
            for v in y_true[label_mask].tolist():
                gt_size[v] += 1
            both = label_mask & pred_mask
            for g, p in zip(y_true[both].tolist(), y_pred[both].tolist()):
                inter[g, p] += 1
        for g, gs in gt_size.items():
            inner = 0.0
            for p, ps in pred_size.items():
                if (g, p) in inter:
                    tpa = inter[g, p]
                    inner += tpa * (tpa / (ps + gs - tpa))
            aq_sum += inner / gs
        num_tracks += len(gt_size)
    conf[C, :] = 0  # the ground-truth void row
    tp = np.diag(conf).astype(np.float64)
    union = conf.sum(0) + conf.sum(1) - tp
    sq = float(np.sum(tp / np.maximum(union, 1e-15)) / np.count_nonzero(union))
    aq = aq_sum / max(num_tracks, 1e-15)
    return aq, sq, float(np.sqrt(aq * sq))
