"""Run the fast metrics on in-memory videos in the format of ``reference_vpq``."""

import numpy as np

from vps_d2.evaluation.report import make_report
from vps_d2.evaluation.stq import STQStats, stq_video_stats
from vps_d2.evaluation.vpq import VideoCounter, vpq_video_stats, window_frames


def count_video(video, num_classes, strict=True):
    counter = VideoCounter(
        [
            [(s["id"], s["category_id"], s.get("iscrowd", 0)) for s in f["gt_segments"]]
            for f in video
        ],
        [[(s["id"], s["category_id"]) for s in f["pred_segments"]] for f in video],
        num_classes,
        strict=strict,
    )
    for t, f in enumerate(video):
        counter.add_frame(t, f["gt"], f["pred"])
    return counter.result()


def fast_stats(videos, frames_per_window, isthing, min_gt_area=0):
    """(ndarray[K, C, 4], STQStats) summed over ``videos``."""
    C = len(isthing)
    vpq = np.zeros((len(frames_per_window), C, 4))
    stq = STQStats()
    for video in videos:
        tables = count_video(video, C)
        vpq += vpq_video_stats(tables, frames_per_window, C, min_gt_area)
        stq = stq + stq_video_stats(tables, isthing)
    return vpq, stq


def evaluate_videos(
    videos,
    isthing,
    window_sizes=(0, 5, 10, 15),
    stride=5,
    excluded=(),
    min_gt_area=0,
    stq_convention="paper",
):
    """The report (percent) of ``videos``; class c is category id c."""
    frames = [window_frames(k, stride) for k in window_sizes]
    vpq, stq = fast_stats(videos, frames, isthing, min_gt_area)
    cats = [{"id": c, "name": f"c{c}", "isthing": t} for c, t in enumerate(isthing)]
    return make_report(
        vpq,
        stq,
        list(window_sizes),
        stride,
        cats,
        list(excluded),
        len(videos),
        sum(len(v) for v in videos),
        stq_convention,
    )


def frame(gt, gt_info, pred, pred_info):
    """A frame from small id maps and {id: class} / {id: (class, iscrowd)} dicts."""
    gt, pred = np.asarray(gt, np.int64), np.asarray(pred, np.int64)
    gt_segments = []
    for i, v in gt_info.items():
        cat, crowd = v if isinstance(v, tuple) else (v, 0)
        gt_segments.append(
            {"id": i, "category_id": cat, "iscrowd": crowd, "area": int((gt == i).sum())}
        )
    pred_segments = [{"id": i, "category_id": c} for i, c in pred_info.items()]
    return {"gt": gt, "gt_segments": gt_segments, "pred": pred, "pred_segments": pred_segments}
