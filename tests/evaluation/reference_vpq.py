"""A straightforward implementation of the released VPQ algorithm and of STQ, kept as test oracles.

Written for clarity, not speed, directly from the description in ``original_release_facts.md``
§5.1 (and §1.8 for VIPER): every window's frames are stacked, the (gt, pred) pairs counted with
``np.unique`` on ``gt·2²⁴ + pred``, and the tubes matched with Python dicts and loops. Ground-truth
areas come from the JSON segments (as released); predicted areas from the map. STQ follows the
STEP reference: per-pixel accumulation of tracks, intersections and a semantic confusion matrix.

A video is a list of frames ``{"gt": HxW ids, "gt_segments": [{id, category_id, iscrowd, area}],
"pred": HxW ids, "pred_segments": [{id, category_id}]}``.
"""

import copy
from collections import defaultdict

import numpy as np

OFFSET = 256 * 256 * 256
VOID = 0


def _frame_segments(frame):
    gt_segms = {}
    for s in frame["gt_segments"]:
        if s["id"] in gt_segms:
            gt_segms[s["id"]]["area"] += s["area"]
        else:
            gt_segms[s["id"]] = copy.deepcopy(s)
    pred_segms = {}
    for s in frame["pred_segments"]:
        if s["id"] not in pred_segms:
            pred_segms[s["id"]] = dict(s)
    labels, counts = np.unique(frame["pred"], return_counts=True)
    remaining = set(pred_segms)
    for label, n in zip(labels.tolist(), counts.tolist()):
        if label == VOID:
            continue
        if label not in pred_segms:
            raise KeyError(f"segment {label} in the map but not in the JSON")
        pred_segms[label]["area"] = n
        remaining.discard(label)
    if remaining:
        raise KeyError(f"segments {sorted(remaining)} in the JSON but not in the map")
    return gt_segms, pred_segms


def window_stats(frames, num_classes, min_gt_area=0):
    """ΣIoU, TP, FP, FN per class (dict class -> [iou, tp, fp, fn]) of one window."""
    stat = defaultdict(lambda: [0.0, 0, 0, 0])
    tube_gt, tube_pred = {}, {}
    for frame in frames:
        gt_segms, pred_segms = _frame_segments(frame)
        for k, v in gt_segms.items():
            if k in tube_gt:
                tube_gt[k]["area"] += v["area"]
            else:
                tube_gt[k] = v
        for k, v in pred_segms.items():
            if k in tube_pred:
                tube_pred[k]["area"] += v["area"]
            else:
                tube_pred[k] = v
    gt_vol = np.stack([f["gt"] for f in frames]).astype(np.uint64)
    pred_vol = np.stack([f["pred"] for f in frames]).astype(np.uint64)
    labels, counts = np.unique(gt_vol * OFFSET + pred_vol, return_counts=True)
    pairs = {(int(lab // OFFSET), int(lab % OFFSET)): int(n) for lab, n in zip(labels, counts)}

    small = set()
    if min_gt_area:
        ids, areas = np.unique(gt_vol, return_counts=True)
        small = {int(i) for i, a in zip(ids, areas) if a < min_gt_area}

    gt_matched, pred_matched = set(), set()
    for (g, p), inter in pairs.items():
        if g in small:
            continue
        if g not in tube_gt or p not in tube_pred:
            continue
        if tube_gt[g]["iscrowd"] == 1:
            continue
        if tube_gt[g]["category_id"] != tube_pred[p]["category_id"]:
            continue
        union = tube_pred[p]["area"] + tube_gt[g]["area"] - inter - pairs.get((VOID, p), 0)
        iou = inter / union
        assert iou <= 1.0
        if iou > 0.5:
            stat[tube_gt[g]["category_id"]][0] += iou
            stat[tube_gt[g]["category_id"]][1] += 1
            gt_matched.add(g)
            pred_matched.add(p)

    crowd_of_class = {}
    for g, info in tube_gt.items():
        if g in gt_matched:
            continue
        if info["iscrowd"] == 1:
            crowd_of_class[info["category_id"]] = g
            continue
        if g in small:
            continue
        stat[info["category_id"]][3] += 1

    for p, info in tube_pred.items():
        if p in pred_matched:
            continue
        ignored = pairs.get((VOID, p), 0)
        if info["category_id"] in crowd_of_class:
            ignored += pairs.get((crowd_of_class[info["category_id"]], p), 0)
        if ignored / info["area"] > 0.5:
            continue
        stat[info["category_id"]][2] += 1
    out = np.zeros((num_classes, 4))
    for c, v in stat.items():
        out[c] += v
    return out


def vpq_stats(videos, window_frame_counts, num_classes, min_gt_area=0):
    """ndarray[K, C, 4] summed over all windows of all videos."""
    out = np.zeros((len(window_frame_counts), num_classes, 4))
    for video in videos:
        for i, n in enumerate(window_frame_counts):
            for s in range(0, len(video) - n + 1):
                window = video[s:][:n]
                out[i] += window_stats(window, num_classes, min_gt_area)
    return out


def pq_average(stats, isthing, excluded=()):
    """Mean PQ over the classes with TP+FP+FN > 0 (all, things, stuff) for one window size."""
    res = {"all": [], "th": [], "st": []}
    for c, (iou, tp, fp, fn) in enumerate(stats):
        if tp + fp + fn == 0 or c in excluded:
            continue
        pq = iou / (tp + 0.5 * fp + 0.5 * fn)
        res["all"].append(pq)
        res["th" if isthing[c] else "st"].append(pq)
    return {k: (sum(v) / len(v) if v else 0.0) for k, v in res.items()}


def stq(videos, isthing):
    """(AQ, SQ, STQ) by per-pixel accumulation, as in the STEP reference implementation (only a
    thing segment can be crowd)."""
    C = len(isthing)
    conf = np.zeros((C, C + 1), np.int64)
    aq_sum, num_tracks = 0.0, 0
    for video in videos:
        gt_size, pred_size, inter = defaultdict(int), defaultdict(int), defaultdict(int)
        for f in video:
            gt_info = {}
            for s in f["gt_segments"]:
                gt_info.setdefault(s["id"], (s["category_id"], s["iscrowd"]))
            pred_info = {}
            for s in f["pred_segments"]:
                pred_info.setdefault(s["id"], s["category_id"])
            gt_cls = np.full(f["gt"].shape, -1)
            gt_crowd = np.zeros(f["gt"].shape, bool)
            for i, (c, crowd) in gt_info.items():
                m = f["gt"] == i
                gt_cls[m] = c
                gt_crowd[m] = bool(crowd) and bool(isthing[c])
            pred_cls = np.full(f["pred"].shape, -1)
            for i, c in pred_info.items():
                pred_cls[f["pred"] == i] = c
            for g, p in zip(gt_cls.ravel(), pred_cls.ravel()):
                if g >= 0:
                    conf[g, p if p >= 0 else C] += 1
            gt_track = (gt_cls >= 0) & ~gt_crowd & np.isin(gt_cls, np.flatnonzero(isthing))
            pred_track = (pred_cls >= 0) & np.isin(pred_cls, np.flatnonzero(isthing)) & ~gt_crowd
            for y, x in zip(*np.nonzero(gt_track | pred_track)):
                gk = (int(gt_cls[y, x]), int(f["gt"][y, x]))
                pk = (int(pred_cls[y, x]), int(f["pred"][y, x]))
                if gt_track[y, x]:
                    gt_size[gk] += 1
                if pred_track[y, x]:
                    pred_size[pk] += 1
                if gt_track[y, x] and pred_track[y, x]:
                    inter[gk, pk] += 1
        for gk, gs in gt_size.items():
            inner = 0.0
            for pk, ps in pred_size.items():
                if (gk, pk) in inter:
                    tpa = inter[gk, pk]
                    inner += tpa * tpa / (ps + gs - tpa)
            aq_sum += inner / gs
        num_tracks += len(gt_size)
    ious = []
    for c in range(C):
        tp = conf[c, c]
        union = conf[c, :].sum() + conf[:, c].sum() - tp
        if union > 0:
            ious.append(tp / union)
    sq = sum(ious) / len(ious) if ious else 0.0
    aq = aq_sum / num_tracks if num_tracks else 0.0
    return aq, sq, float(np.sqrt(aq * sq))
