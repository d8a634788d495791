"""Turn summed statistics into the reported numbers (percent, like the released tool) and tables.

The report (also the offline scorer's ``--json-out``)::

    {"VPQ", "VPQ_th", "VPQ_st",                  mean over k of VPQ^k (Eq. 1, §III-B)
     "per_k": {"0": {"VPQ", "VPQ_th", "VPQ_st", "SQ", "RQ", "n", "n_th", "n_st"}, "5": ...},
     "PQ", "PQ_th", "PQ_st",                     k = 0 (image PQ), when 0 is among the windows
     "STQ", "AQ", "SQ", "stq_convention",        STQ, its terms (SQ = mIoU) and SQ convention
     "per_class": [{"id", "name", "isthing", "excluded", "VPQ", "IoU",
                    "per_k": {"0": {"PQ", "SQ", "RQ", "IoU", "TP", "FP", "FN"} or null}}],
     "window_sizes", "stride", "num_videos", "num_frames"}

``n*`` count the classes in each mean. Per-class ``VPQ`` is the mean of its PQ^k over the ``k``
where the class has a TP, FP or FN (null if none); per-class ``IoU`` is its semantic IoU (STQ's SQ
term).
"""

from collections import OrderedDict
from typing import Dict, List, Sequence

import numpy as np
from tabulate import tabulate

from .stq import STQStats, summarize_stq
from .vpq import summarize_vpq

__all__ = ["make_report", "flat_metrics", "format_report"]


def _pct(x):
    return None if x is None else 100.0 * float(x)


def make_report(
    vpq_stats: np.ndarray,
    stq_stats: STQStats,
    window_sizes: Sequence[int],
    stride: int,
    categories: Sequence[Dict],
    excluded_classes: Sequence[int] = (),
    num_videos: int = 0,
    num_frames: int = 0,
    stq_convention: str = "paper",
) -> Dict:
    """Build the report.

    Args:
        vpq_stats: ndarray[K, C, 4] summed over videos (:func:`~.vpq.vpq_video_stats`).
        stq_stats: summed :class:`~.stq.STQStats`.
        window_sizes: the ``k`` of each row of ``vpq_stats`` (raw frames).
        stride: annotation stride λ.
        categories: per class (contiguous order): ``id`` (dataset id), ``name``, ``isthing``.
        excluded_classes: contiguous classes left out of the VPQ means (not of SQ: see
            :mod:`.stq`).
        stq_convention: ``"paper"`` or ``"deeplab2"`` (:func:`~.stq.summarize_stq`).
    """
    isthing = [bool(c["isthing"]) for c in categories]
    vpq = summarize_vpq(vpq_stats, window_sizes, isthing, excluded_classes)
    stq = summarize_stq(stq_stats, stq_convention)
    per_k = OrderedDict()
    for k, e in vpq["per_k"].items():
        per_k[str(k)] = {
            "VPQ": _pct(e["PQ"]),
            "VPQ_th": _pct(e["PQ_th"]),
            "VPQ_st": _pct(e["PQ_st"]),
            "SQ": _pct(e["SQ"]),
            "RQ": _pct(e["RQ"]),
            "n": e["n"],
            "n_th": e["n_th"],
            "n_st": e["n_st"],
        }
    per_class: List[Dict] = []
    for c, cat in enumerate(categories):
        rows = OrderedDict()
        for k, r in zip(window_sizes, vpq["per_class"][c]):
            rows[str(k)] = (
                None
                if r is None
                else {
                    "PQ": _pct(r["PQ"]),
                    "SQ": _pct(r["SQ"]),
                    "RQ": _pct(r["RQ"]),
                    "IoU": r["iou"],
                    "TP": r["tp"],
                    "FP": r["fp"],
                    "FN": r["fn"],
                }
            )
        counted = [r["PQ"] for r in rows.values() if r is not None]
        per_class.append(
            {
                "id": cat["id"],
                "name": cat.get("name", str(cat["id"])),
                "isthing": isthing[c],
                "excluded": c in set(excluded_classes),
                "VPQ": float(np.mean(counted)) if counted else None,
                "IoU": _pct(stq["per_class_iou"][c]),
                "per_k": rows,
            }
        )
    report = OrderedDict(
        VPQ=_pct(vpq["VPQ"]), VPQ_th=_pct(vpq["VPQ_th"]), VPQ_st=_pct(vpq["VPQ_st"]), per_k=per_k
    )
    if "0" in per_k:
        report.update(PQ=per_k["0"]["VPQ"], PQ_th=per_k["0"]["VPQ_th"], PQ_st=per_k["0"]["VPQ_st"])
    report.update(
        STQ=_pct(stq["STQ"]), AQ=_pct(stq["AQ"]), SQ=_pct(stq["SQ"]), stq_convention=stq_convention
    )
    report.update(
        per_class=per_class,
        window_sizes=[int(k) for k in window_sizes],
        stride=int(stride),
        num_videos=int(num_videos),
        num_frames=int(num_frames),
    )
    return report


def flat_metrics(report: Dict) -> "OrderedDict[str, float]":
    """Detectron2 metrics: VPQ, VPQ_th, VPQ_st, VPQ@k, VPQ_th@k, VPQ_st@k, PQ*, STQ, AQ, mIoU."""
    out = OrderedDict((key, report[key]) for key in ("VPQ", "VPQ_th", "VPQ_st"))
    for k, e in report["per_k"].items():
        out[f"VPQ@{k}"] = e["VPQ"]
    for k, e in report["per_k"].items():
        out[f"VPQ_th@{k}"] = e["VPQ_th"]
        out[f"VPQ_st@{k}"] = e["VPQ_st"]
    for key in ("PQ", "PQ_th", "PQ_st", "STQ", "AQ"):
        if key in report:
            out[key] = report[key]
    out["mIoU"] = report["SQ"]
    return out


def format_report(report: Dict) -> str:
    """Readable tables: VPQ per k, then STQ, then per class."""
    rows = [
        [
            k,
            e["VPQ"],
            e["VPQ_th"],
            e["VPQ_st"],
            e["SQ"],
            e["RQ"],
            f"{e['n']} ({e['n_th']}/{e['n_st']})",
        ]
        for k, e in report["per_k"].items()
    ]
    rows.append(["mean", report["VPQ"], report["VPQ_th"], report["VPQ_st"], "", "", ""])
    head = tabulate(
        rows,
        headers=["k", "VPQ", "VPQ_th", "VPQ_st", "SQ", "RQ", "N (th/st)"],
        floatfmt=".2f",
        tablefmt="pipe",
    )
    stq = (
        f"STQ {report['STQ']:.2f}   AQ {report['AQ']:.2f}   SQ (mIoU) {report['SQ']:.2f}   "
        f"({report['stq_convention']} convention)"
    )
    ks = list(report["per_k"])
    crow = []
    for c in report["per_class"]:
        pq = ["-" if c["per_k"][k] is None else f"{c['per_k'][k]['PQ']:.1f}" for k in ks]
        name = c["name"] + (" (excluded)" if c["excluded"] else "")
        vpq = "-" if c["VPQ"] is None else f"{c['VPQ']:.1f}"
        iou = "-" if c["IoU"] is None else f"{c['IoU']:.1f}"
        crow.append([c["id"], name, "th" if c["isthing"] else "st", vpq] + pq + [iou])
    classes = tabulate(
        crow,
        headers=["id", "class", "", "VPQ"] + [f"PQ@{k}" for k in ks] + ["IoU"],
        tablefmt="pipe",
    )
    summary = (
        f"{report['num_videos']} videos, {report['num_frames']} annotated frames, "
        f"stride {report['stride']}, windows k = {', '.join(ks)}"
    )
    return "\n".join([summary, head, stq, classes])
