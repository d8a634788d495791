"""Video panoptic quality (VPQ, paper §III-B, Eq. 1) as pure functions: no I/O, no distributed code.

Semantics are those of the released evaluator (``original_release_facts.md`` §5.1), computed fast:

* A video is a list of annotated frames in temporal order. Frame ``t`` has a ground-truth id map and
  its segments (id, semantic class, iscrowd) and a predicted id map and its segments (id, class).
  Id 0 is void. Ids are consistent through the video (same id = same tube).
* For each window size ``k`` (raw frames) the window spans ``n = k/λ + 1`` consecutive annotated
  frames and slides by one annotated frame (``t = 0 : T-k : λ`` of §III-B); ``k = 0`` is image PQ.
* In a window, a tube is the union of the segments with one id. Its class and crowd flag come from
  the first frame of the window that lists the id; its area is its pixel count over the window.
  A ground-truth id that is in no segment list of the window is neither a tube nor void.
* A (gt, pred) tube pair is a true positive when the gt tube is not crowd, both have the same class
  and ``IoU = |g∩p| / (|p| + |g| - |g∩p| - |p∩void|) > 0.5`` (unique by construction). Unmatched
  non-crowd gt tubes are false negatives. An unmatched pred tube is a false positive unless more
  than half of it lies on void plus the crowd region of its class (as released: the crowd tube of
  that class listed last in the window).
* Per class, ΣIoU, TP, FP and FN are summed over all windows of all videos; Eq. 1 then gives
  ``VPQ^k_c = ΣIoU / (TP + FP/2 + FN/2)``; classes with TP+FP+FN = 0 are skipped in the mean, and
  VPQ is the mean over ``k`` (§III-B).
* Dataset options (VIPER, facts §1.8): classes excluded from every mean; ground-truth tubes with
  ``0 < area < min_gt_area`` pixels ignored (neither matched nor counted as FN).

Speed: each frame is counted once. Ids are turned into compact per-video codes through a lookup
table, and one 2-D histogram of (gt code, pred code) (``cv2.calcHist`` on uint8 codes, or a
``np.bincount`` of ``gt_code·P + pred_code`` beyond 256 codes) gives the frame's intersection
table.
Every window's tube statistics are then formed from those small tables, never from pixels again.
"""

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    "STAT_FIELDS",
    "SegmentListError",
    "VideoTables",
    "VideoCounter",
    "window_frames",
    "vpq_video_stats",
    "summarize_vpq",
]

# Columns of a statistics array (..., C, 4): summed IoU, TP, FP, FN.
STAT_FIELDS = ("iou", "tp", "fp", "fn")
_IOU, _TP, _FP, _FN = range(4)

# Internal codes: 0 = an id listed in no segment list of the video, 1 = void (id 0), 2.. = listed.
_UNLISTED, _VOID, _FIRST = 0, 1, 2
_LUT_SIZE = 1 << 24  # ids of RGB PNGs; larger ids (in-memory predictions) take a slower path
_MAX_DENSE_BINS = 1 << 23  # above this many (gt, pred) code pairs a frame is counted by sorting
_MAX_HIST_PIXELS = 1 << 24  # cv2.calcHist counts in float32: exact below 2^24 pixels per bin
_MAX_SMALL_CODES = 256  # codes per side that fit uint8 code maps


def window_frames(k: int, stride: int) -> int:
    """Number of annotated frames spanned by a window of ``k`` raw frames at annotation stride λ."""
    if k < 0 or stride <= 0 or k % stride:
        raise ValueError(
            f"window size k={k} must be a non-negative multiple of the stride λ={stride}"
        )
    return k // stride + 1


class SegmentListError(ValueError):
    """A predicted map and its segment list disagree, or the map has the wrong size.

    Attributes:
        frame (int): index of the annotated frame in the video.
        segment_id (int or None): the offending id.
        kind (str): ``"unlisted"`` (on the map, in no list), ``"absent"`` (listed, not on the map)
            or ``"size"``.
    """

    def __init__(self, message: str, frame: int, segment_id=None, kind: str = ""):
        super().__init__(message)
        self.frame, self.segment_id, self.kind = frame, segment_id, kind


@dataclass
class VideoTables:
    """Per-frame statistics of one video, the only thing kept after its pixels are counted.

    ``G``/``P`` are the numbers of gt/pred codes (code 0 = unlisted id, 1 = void, 2.. = listed).

    Attributes:
        gt_cat (ndarray[F, G] int): class of each gt code in each frame, -1 where not listed.
        gt_crowd (ndarray[F, G] bool): crowd flag where listed.
        gt_pos (ndarray[F, G] int): position of the code's first segment in the frame's list.
        gt_count (ndarray[F, G] int64): pixels of each gt code in each frame.
        pred_cat (ndarray[F, P] int): class of each pred code, -1 where not listed (or absent).
        pred_count (ndarray[F, P] int64): pixels of each pred code.
        pairs (list[ndarray[M, 3] int64]): per frame, the (gt code, pred code, pixels) triplets
            with a non-zero intersection.
    """

    gt_cat: np.ndarray
    gt_crowd: np.ndarray
    gt_pos: np.ndarray
    gt_count: np.ndarray
    pred_cat: np.ndarray
    pred_count: np.ndarray
    pairs: List[np.ndarray]

    @property
    def num_frames(self) -> int:
        return self.gt_cat.shape[0]


class _Coder:
    """Maps raw segment ids to ``scale`` × code through a lookup table of 2²⁴ + 1 entries.

    The table is allocated zeroed and lazily by the OS, so only the pages of the ids in use become
    resident; code 0 (unlisted) is the default value. Unsigned ids are looked up with
    ``mode="clip"``, which sends every id >= 2²⁴ to the last entry, unlisted: no range scan per
    frame. Signed ids are range-checked; ids beyond the table (possible for in-memory predictions,
    never for RGB PNGs) take a slower sorted search.
    """

    def __init__(self, listed_ids: np.ndarray, scale: int, dtype):
        self.ids = listed_ids  # sorted, unique, > 0
        self.scale = scale
        self.dtype = dtype
        self._lut = None
        if listed_ids.size == 0 or listed_ids[-1] < _LUT_SIZE:
            self._lut = np.zeros(_LUT_SIZE + 1, dtype=dtype)
            self._lut[0] = _VOID * scale
            self._lut[listed_ids] = (np.arange(listed_ids.size, dtype=np.int64) + _FIRST) * scale

    def encode(self, ids: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Codes of ``ids`` (into ``out`` if given: same shape, this coder's dtype)."""
        if self._lut is not None:
            in_range = ids.dtype.kind == "u" or ids.size == 0
            if not in_range and ids.dtype.kind == "i":
                in_range = ids.min() >= 0 and ids.max() < _LUT_SIZE
            if in_range:
                return np.take(self._lut, ids, out=out, mode="clip")
        if ids.size and ids.min() < 0:
            raise ValueError(f"segment ids must be >= 0, got {int(ids.min())}")
        codes = np.full(ids.shape, _UNLISTED, np.int64)
        if self.ids.size:
            pos = np.minimum(np.searchsorted(self.ids, ids), self.ids.size - 1)
            found = self.ids[pos] == ids
            codes[found] = pos[found] + _FIRST
        codes[ids == 0] = _VOID
        codes *= self.scale
        if out is None:
            return codes.astype(self.dtype)
        out[...] = codes
        return out

    def raw_ids(self, codes: np.ndarray) -> np.ndarray:
        return self.ids[np.asarray(codes) - _FIRST]

    def codes(self, ids: np.ndarray) -> np.ndarray:
        """Unscaled int64 codes of a small array of ids."""
        return self.encode(np.asarray(ids, np.int64)).astype(np.int64) // self.scale


def _segment_arrays(segments: Sequence[Sequence]) -> Tuple[np.ndarray, ...]:
    """``[(id, class[, iscrowd]), ...]`` -> ids, classes, crowd flags (void id 0 dropped)."""
    arr = np.array([tuple(s) + (0,) * (3 - len(s)) for s in segments], dtype=np.int64).reshape(
        -1, 3
    )
    keep = arr[:, 0] != 0
    return arr[keep, 0], arr[keep, 1], arr[keep, 2].astype(bool)


class VideoCounter:
    """Counts one video frame by frame into :class:`VideoTables` (frames are not kept).

    Args:
        gt_segments: per annotated frame, the ground-truth segments as ``(id, class, iscrowd)``.
        pred_segments: per annotated frame, the predicted segments as ``(id, class)``.
        num_classes: C; every class must be in [0, C).
        strict: a submission must list exactly the ids of its PNG. When False (model outputs), a
            listed segment without pixels is dropped. An id on the map but in no list is always an
            error, reported with ``pred_names[t]`` if given.
        pred_names: names of the predicted maps, used in error messages.
    """

    def __init__(
        self,
        gt_segments: Sequence[Sequence[Sequence]],
        pred_segments: Sequence[Sequence[Sequence]],
        num_classes: int,
        strict: bool = True,
        pred_names: Optional[Sequence[str]] = None,
    ):
        if len(gt_segments) != len(pred_segments):
            raise ValueError(
                f"{len(gt_segments)} ground-truth frames but {len(pred_segments)} predicted"
            )
        self.num_frames = len(gt_segments)
        self.strict = strict
        self.pred_names = list(pred_names) if pred_names is not None else None
        self._gt = [_segment_arrays(s) for s in gt_segments]
        self._pred = [_segment_arrays(s) for s in pred_segments]
        for side, frames in (("ground-truth", self._gt), ("predicted", self._pred)):
            for t, (ids, cats, _) in enumerate(frames):
                bad = (cats < 0) | (cats >= num_classes)
                if bad.any():
                    name = self._name(t) if side == "predicted" else f"ground-truth frame {t}"
                    raise ValueError(
                        f"{name}: {side} segment {int(ids[bad][0])} has class {int(cats[bad][0])}, "
                        f"expected 0..{num_classes - 1}"
                    )
        gt_ids = np.unique(np.concatenate([g[0] for g in self._gt] + [np.zeros(0, np.int64)]))
        pred_ids = np.unique(np.concatenate([p[0] for p in self._pred] + [np.zeros(0, np.int64)]))
        self.G, self.P = gt_ids.size + _FIRST, pred_ids.size + _FIRST
        # Up to 256 codes a side (the usual case), both code maps are uint8 and one 2-D histogram
        # (cv2.calcHist) counts the pairs; otherwise intp codes gt·P + pred and a bincount, which
        # then needs no cast.
        self._small = max(self.G, self.P) <= _MAX_SMALL_CODES
        if self._small:
            self._gt_coder = _Coder(gt_ids, 1, np.uint8)
        else:
            self._gt_coder = _Coder(gt_ids, self.P, np.intp)
        self._pred_coder = _Coder(pred_ids, 1, self._gt_coder.dtype)
        self._buffers = None  # two HxW code maps reused by every frame (no fresh pages per frame)
        F = self.num_frames
        self.tables = VideoTables(
            gt_cat=np.full((F, self.G), -1, np.int64),
            gt_crowd=np.zeros((F, self.G), bool),
            gt_pos=np.zeros((F, self.G), np.int64),
            gt_count=np.zeros((F, self.G), np.int64),
            pred_cat=np.full((F, self.P), -1, np.int64),
            pred_count=np.zeros((F, self.P), np.int64),
            pairs=[np.zeros((0, 3), np.int64)] * F,
        )
        for t, (ids, cats, crowd) in enumerate(self._gt):
            codes = np.searchsorted(gt_ids, ids) + _FIRST
            first = np.unique(codes, return_index=True)[1]  # a duplicated id keeps its first entry
            self.tables.gt_cat[t, codes[first]] = cats[first]
            self.tables.gt_crowd[t, codes[first]] = crowd[first]
            self.tables.gt_pos[t, codes[first]] = first
        self._done = np.zeros(F, bool)

    def _name(self, t: int) -> str:
        return self.pred_names[t] if self.pred_names else f"frame {t}"

    def add_frame(self, t: int, gt_ids: np.ndarray, pred_ids: np.ndarray) -> None:
        """Count annotated frame ``t`` (HxW integer id maps of equal size)."""
        if gt_ids.shape != pred_ids.shape:
            raise SegmentListError(
                f"{self._name(t)}: size {_size(pred_ids)} differs from the ground truth "
                f"{_size(gt_ids)}",
                t,
                kind="size",
            )
        G, P = self.G, self.P
        if self._buffers is None or self._buffers[0].shape != gt_ids.shape:
            self._buffers = [np.empty(gt_ids.shape, self._gt_coder.dtype) for _ in range(2)]
        gt_codes = self._gt_coder.encode(gt_ids, out=self._buffers[0])
        pred_codes = self._pred_coder.encode(pred_ids, out=self._buffers[1])
        if self._small and gt_codes.size < _MAX_HIST_PIXELS:
            hist = cv2.calcHist([gt_codes, pred_codes], [0, 1], None, [G, P], [0, G, 0, P]).ravel()
            flat = np.flatnonzero(hist)
            n = hist[flat].astype(np.int64)
        else:
            if self._small:  # a frame of 2^24 pixels or more
                key = gt_codes.astype(np.intp) * P + pred_codes
            else:  # gt codes are scaled by P already
                key = np.add(gt_codes, pred_codes, out=gt_codes)
            key = key.ravel()
            if G * P <= _MAX_DENSE_BINS:
                counts = np.bincount(key, minlength=G * P)
                flat = np.flatnonzero(counts)
                n = counts[flat]
            else:
                flat, n = np.unique(key, return_counts=True)
        self._store(t, flat // P, flat % P, n, pred_ids)

    def add_pairs(self, t: int, gt_ids, pred_ids, counts) -> None:
        """Count annotated frame ``t`` from its (gt id, pred id, pixels) triplets, for readers that
        count a frame before the video's segment lists are known (KITTI-STEP PNGs)."""
        g = self._gt_coder.codes(gt_ids)
        p = self._pred_coder.codes(pred_ids)
        key, inv = np.unique(g * self.P + p, return_inverse=True)
        n = np.bincount(inv.ravel(), weights=counts, minlength=key.size).astype(np.int64)
        self._store(t, key // self.P, key % self.P, n, np.asarray(pred_ids, np.int64))

    def _store(self, t: int, g, p, n, pred_ids: np.ndarray) -> None:
        """Keep frame ``t``'s pair table (codes g, p; pixels n) and check its predicted ids."""
        tb = self.tables
        tb.pairs[t] = np.stack([g, p, n], axis=1).astype(np.int64)
        tb.gt_count[t] = np.bincount(g, weights=n, minlength=self.G).astype(np.int64)
        tb.pred_count[t] = np.bincount(p, weights=n, minlength=self.P).astype(np.int64)
        self._check_pred(t, pred_ids)
        self._done[t] = True

    def _check_pred(self, t: int, pred_ids: np.ndarray) -> None:
        ids, cats, _ = self._pred[t]
        codes = np.searchsorted(self._pred_coder.ids, ids) + _FIRST
        listed = np.zeros(self.P, bool)
        listed[codes] = True
        present = self.tables.pred_count[t] > 0
        stray = present & ~listed
        stray[_VOID] = False
        if stray.any():
            if stray[_UNLISTED]:
                bad = int(np.unique(pred_ids[self._pred_coder.encode(pred_ids) == _UNLISTED])[0])
            else:
                bad = int(self._pred_coder.raw_ids(np.flatnonzero(stray)[:1])[0])
            raise SegmentListError(
                f"{self._name(t)}: segment id {bad} is on the map but in no segments_info",
                t,
                bad,
                "unlisted",
            )
        missing = listed & ~present
        if missing.any() and self.strict:
            bad = int(self._pred_coder.raw_ids(np.flatnonzero(missing)[:1])[0])
            raise SegmentListError(
                f"{self._name(t)}: segment id {bad} is in segments_info but not on the map",
                t,
                bad,
                "absent",
            )
        first = np.unique(codes, return_index=True)[1]
        self.tables.pred_cat[t, codes[first]] = cats[first]
        self.tables.pred_cat[t, missing] = -1

    def result(self) -> VideoTables:
        if not self._done.all():
            raise ValueError(f"frames {np.flatnonzero(~self._done).tolist()} were never counted")
        return self.tables


def _size(a: np.ndarray) -> str:
    return f"{a.shape[1]}x{a.shape[0]}" if a.ndim == 2 else "x".join(map(str, a.shape))


def _first_listed(cat: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For a window's (n, codes) class table: whether each code is listed, and its first frame."""
    listed = cat >= 0
    return listed.any(axis=0), listed.argmax(axis=0)


def _window_pairs(pairs: Sequence[np.ndarray], P: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum the (gt, pred, pixels) triplets of a window's frames by (gt, pred)."""
    if len(pairs) == 1:
        tri = pairs[0]
        return tri[:, 0], tri[:, 1], tri[:, 2]
    tri = np.concatenate(pairs)
    keys, inv = np.unique(tri[:, 0] * P + tri[:, 1], return_inverse=True)
    inter = np.bincount(inv.ravel(), weights=tri[:, 2], minlength=keys.size).astype(np.int64)
    return keys // P, keys % P, inter


def _window_stats(
    tb: VideoTables, s: int, e: int, num_classes: int, min_gt_area: int, out: np.ndarray
) -> None:
    """Add the TP/FP/FN/ΣIoU of the window of frames [s, e) to ``out`` (C, 4)."""
    G, P = tb.gt_cat.shape[1], tb.pred_cat.shape[1]
    g_any, g_first = _first_listed(tb.gt_cat[s:e])
    p_any, p_first = _first_listed(tb.pred_cat[s:e])
    g_any[:_FIRST] = False
    p_any[:_FIRST] = False
    cg = np.arange(G)
    cp = np.arange(P)
    g_cat = tb.gt_cat[s:e][g_first, cg]
    g_crowd = tb.gt_crowd[s:e][g_first, cg]
    p_cat = tb.pred_cat[s:e][p_first, cp]
    g_area = tb.gt_count[s:e].sum(axis=0)
    p_area = tb.pred_count[s:e].sum(axis=0)
    g_small = (g_area > 0) & (g_area < min_gt_area)
    gi, pi, inter = _window_pairs(tb.pairs[s:e], P)

    on_void = gi == _VOID
    void_inter = np.bincount(pi[on_void], weights=inter[on_void], minlength=P).astype(np.float64)
    cand = g_any[gi] & p_any[pi] & ~g_crowd[gi] & ~g_small[gi] & (g_cat[gi] == p_cat[pi])
    gi_c, pi_c, inter_c = gi[cand], pi[cand], inter[cand]
    union = p_area[pi_c] + g_area[gi_c] - inter_c - void_inter[pi_c]
    iou = inter_c / union
    tp = iou > 0.5
    g_matched = np.zeros(G, bool)
    p_matched = np.zeros(P, bool)
    g_matched[gi_c[tp]] = True
    p_matched[pi_c[tp]] = True
    tp_cat = g_cat[gi_c[tp]]
    out[:, _IOU] += np.bincount(tp_cat, weights=iou[tp], minlength=num_classes)
    out[:, _TP] += np.bincount(tp_cat, minlength=num_classes)

    fn = g_any & ~g_matched & ~g_crowd & ~g_small
    out[:, _FN] += np.bincount(g_cat[fn], minlength=num_classes)

    # The crowd region of a class is one crowd tube: the one listed last (frame, then position).
    crowd_of_class = np.full(num_classes, -1, np.int64)
    crowd_codes = np.flatnonzero(g_any & g_crowd)
    if crowd_codes.size:
        pos = tb.gt_pos[s:e][g_first[crowd_codes], crowd_codes]
        for c in crowd_codes[np.lexsort((pos, g_first[crowd_codes]))]:
            crowd_of_class[g_cat[c]] = c
    ignored = void_inter.copy()
    if crowd_codes.size:
        p_cls = np.where(p_any, p_cat, 0)
        on_crowd = p_any[pi] & (crowd_of_class[p_cls[pi]] == gi)
        ignored += np.bincount(pi[on_crowd], weights=inter[on_crowd], minlength=P)
    fp = p_any & ~p_matched
    fp[fp] = ignored[fp] / p_area[fp] <= 0.5
    out[:, _FP] += np.bincount(p_cat[fp], minlength=num_classes)


def vpq_video_stats(
    tables: VideoTables,
    num_frames_per_window: Sequence[int],
    num_classes: int,
    min_gt_area: int = 0,
) -> np.ndarray:
    """Per-class tube statistics of one video for every window size (the sums of Eq. 1).

    Args:
        tables: the counted video (:meth:`VideoCounter.result`).
        num_frames_per_window: annotated frames per window, one entry per ``k``
            (:func:`window_frames`). A video shorter than a window contributes nothing to it.
        num_classes: C, the number of semantic classes.
        min_gt_area: ground-truth tubes with fewer pixels (and at least one) are ignored.

    Returns:
        ndarray[K, C, 4] float64: ΣIoU, TP, FP, FN per window size and class, summed over windows.
    """
    out = np.zeros((len(num_frames_per_window), num_classes, 4), np.float64)
    F = tables.num_frames
    for i, n in enumerate(num_frames_per_window):
        for s in range(0, F - n + 1):
            _window_stats(tables, s, s + n, num_classes, min_gt_area, out[i])
    return out


def _class_scores(st: np.ndarray) -> Dict[str, float]:
    iou, tp, fp, fn = st
    denom = tp + 0.5 * fp + 0.5 * fn
    return {
        "PQ": iou / denom if denom else 0.0,
        "SQ": iou / tp if tp else 0.0,
        "RQ": tp / denom if denom else 0.0,
    }


def summarize_vpq(
    stats: np.ndarray,
    window_sizes: Sequence[int],
    isthing: Sequence[bool],
    excluded: Sequence[int] = (),
) -> Dict:
    """Eq. 1 per window size, then the mean over ``k`` (§III-B). Scores are fractions.

    Args:
        stats: ndarray[K, C, 4] summed over all videos.
        window_sizes: the ``k`` of each row.
        isthing: per class, whether it is a thing class.
        excluded: classes left out of every mean (VIPER's class 11).

    Returns:
        dict with ``per_k`` ({k: {"PQ", "PQ_th", "PQ_st", "SQ", "RQ", "n", "n_th", "n_st"}}),
        ``VPQ``/``VPQ_th``/``VPQ_st`` (means over the k whose mean has classes) and ``per_class``
        (C lists, one entry per k: {"PQ", "SQ", "RQ", "iou", "tp", "fp", "fn"} or None where the
        class is skipped). A mean over no class is 0.0 (its ``n`` says so) and is left out of the
        mean over k (e.g. k = 15 when every video is shorter than 4 annotated frames).
    """
    isthing = np.asarray(isthing, bool)
    excluded = set(int(c) for c in excluded)
    per_k, per_class = {}, [[] for _ in range(stats.shape[1])]
    for i, k in enumerate(window_sizes):
        groups = {"": [], "_th": [], "_st": []}
        sq_all, rq_all = [], []
        for c in range(stats.shape[1]):
            st = stats[i, c]
            if st[_TP] + st[_FP] + st[_FN] == 0:
                per_class[c].append(None)
                continue
            sc = _class_scores(st)
            per_class[c].append(
                dict(sc, iou=float(st[_IOU]), tp=int(st[_TP]), fp=int(st[_FP]), fn=int(st[_FN]))
            )
            if c in excluded:
                continue
            groups[""].append(sc["PQ"])
            groups["_th" if isthing[c] else "_st"].append(sc["PQ"])
            sq_all.append(sc["SQ"])
            rq_all.append(sc["RQ"])
        entry = {}
        for suffix, vals in groups.items():
            entry["PQ" + suffix] = float(np.mean(vals)) if vals else 0.0
            entry["n" + suffix] = len(vals)
        entry["SQ"] = float(np.mean(sq_all)) if sq_all else 0.0
        entry["RQ"] = float(np.mean(rq_all)) if rq_all else 0.0
        per_k[int(k)] = entry
    out = {}
    for suffix in ("", "_th", "_st"):
        defined = [e["PQ" + suffix] for e in per_k.values() if e["n" + suffix]]
        out["VPQ" + suffix] = float(np.mean(defined)) if defined else 0.0
    out.update(per_k=per_k, per_class=per_class)
    return out
