"""The offline scorer: a submission folder against the ground truth, video by video.

Frames are grouped into videos by the video field of their image id (``VVVV_FFFF_...``) and ordered
by frame number, so videos may have any number of annotated frames. Each video is decoded, counted
and reduced to small statistics (:mod:`.vpq`, :mod:`.stq`) in one process or in a pool of workers;
only those statistics travel back. PNG decoding (most of the time) runs in a few threads per
process, a few frames ahead of the counting: OpenCV's decoder releases the GIL.
"""

import collections
import itertools
import multiprocessing as mp
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from . import submission_io as sio
from .report import make_report
from .stq import STQStats, stq_video_stats
from .vpq import SegmentListError, VideoCounter, vpq_video_stats, window_frames

__all__ = [
    "FrameJob",
    "build_jobs",
    "default_window_sizes",
    "default_workers",
    "prefetch",
    "score_submission",
    "score_video",
]


@dataclass
class FrameJob:
    image_id: str
    gt_png: str
    gt_segments: List[Tuple[int, int, int]]
    pred_png: str
    pred_segments: List[Tuple[int, int]]
    pred_json: str


def default_window_sizes(stride: int) -> List[int]:
    """Windows of 1, 2, 3, 4 annotated frames (k = 0, 5, 10, 15 at λ = 5); at λ = 1 (VIPER) the
    released 1/5/10/15-frame windows, k = 0, 4, 9, 14 (SPEC §9)."""
    return [0, 4, 9, 14] if stride == 1 else [0, stride, 2 * stride, 3 * stride]


def default_workers() -> int:
    """Processes of the scorer by default: one per CPU core, at most 8."""
    return min(os.cpu_count() or 1, 8)


def build_jobs(
    gt_json: str, gt_dir: str, pred_json: str, pred_dir: str
) -> Tuple[List[List[FrameJob]], List[Dict]]:
    """Read both JSON files, pair predictions with ground truth, group the frames into videos."""
    gt_anns, categories, cmap = sio.load_gt(gt_json, gt_dir)
    pairs = sio.pair_predictions(gt_anns, sio.read_pred_annotations(pred_json), pred_json, pred_dir)
    videos = []
    for idx in sio.group_videos(gt_anns, gt_json):
        frames = []
        for i in idx:
            g, (p, png) = gt_anns[i], pairs[i]
            segs = sio.pred_segments(p, cmap, pred_json, g["image_id"])
            frames.append(FrameJob(g["image_id"], g["png"], g["segments"], png, segs, pred_json))
        videos.append(frames)
    return videos, categories


def prefetch(fn: Callable, items: Iterable, pool: Executor, ahead: int) -> Iterator:
    """``fn(item)`` for each item, in order, computed in ``pool`` up to ``ahead`` items early (so
    at most ``ahead`` results are held in memory)."""
    items = iter(items)
    pending = collections.deque(pool.submit(fn, x) for x in itertools.islice(items, ahead))
    while pending:
        result = pending.popleft().result()
        for x in itertools.islice(items, 1):
            pending.append(pool.submit(fn, x))
        yield result


def score_video(
    frames: Sequence[FrameJob],
    frames_per_window: Sequence[int],
    isthing: Sequence[bool],
    min_gt_area: int = 0,
    threads: int = 2,
) -> Tuple[np.ndarray, STQStats, int]:
    """Decode, check and count one video; returns its VPQ statistics [K, C, 4], STQ statistics and
    number of frames. ``threads`` decode the PNGs ahead of the counting."""
    C = len(isthing)
    counter = VideoCounter(
        [f.gt_segments for f in frames],
        [f.pred_segments for f in frames],
        C,
        strict=True,
        pred_names=[f.pred_png for f in frames],
    )
    pngs = [png for f in frames for png in (f.gt_png, f.pred_png)]
    with ThreadPoolExecutor(max(threads, 1)) as pool:
        maps = prefetch(sio.decode_panoptic_png, pngs, pool, ahead=2 * max(threads, 1))
        for t, f in enumerate(frames):
            gt, pred = next(maps), next(maps)
            _count_frame(counter, t, f, gt, pred)
    tables = counter.result()
    return (
        vpq_video_stats(tables, frames_per_window, C, min_gt_area),
        stq_video_stats(tables, isthing),
        len(frames),
    )


def _count_frame(counter: VideoCounter, t: int, f: FrameJob, gt: np.ndarray, pred: np.ndarray):
    """Count one decoded frame, naming the submission's files in a one-line error."""
    sio.check_size(pred, gt, f.pred_png, f.image_id)
    try:
        counter.add_frame(t, gt, pred)
    except SegmentListError as e:
        if e.kind == "unlisted":
            msg = f"{f.pred_png}: segment id {e.segment_id} is in the PNG but not in {f.pred_json}"
        else:
            msg = f"{f.pred_json}: segment id {e.segment_id} is listed but not in {f.pred_png}"
        raise sio.EvaluationInputError(f"{msg} (image '{f.image_id}')") from None


def _score_video_star(args):
    return score_video(*args)


def _worker_init():
    import cv2

    cv2.setNumThreads(1)  # one process per core: OpenCV's own threads would only oversubscribe


def score_submission(
    gt_json: str,
    gt_dir: str,
    pred_json: str,
    pred_dir: str,
    window_sizes: Optional[Sequence[int]] = None,
    stride: int = 5,
    workers: int = 1,
    excluded_category_ids: Sequence[int] = (),
    min_gt_area: int = 0,
    progress: bool = True,
    threads: int = 2,
) -> Dict:
    """Score a submission; returns the report of :func:`~.report.make_report` (percent).

    ``workers`` processes score videos in parallel; each decodes PNGs in ``threads`` threads.
    """
    window_sizes = list(window_sizes) if window_sizes else default_window_sizes(stride)
    try:
        frames_per_window = [window_frames(k, stride) for k in window_sizes]
    except ValueError as e:
        raise sio.EvaluationInputError(str(e)) from None
    videos, categories = build_jobs(gt_json, gt_dir, pred_json, pred_dir)
    ids = [c["id"] for c in categories]
    unknown = [c for c in excluded_category_ids if c not in ids]
    if unknown:
        raise sio.EvaluationInputError(
            f"{gt_json}: excluded category {unknown[0]} is not a category"
        )
    excluded = [ids.index(c) for c in excluded_category_ids]
    isthing = [bool(c.get("isthing", 0)) for c in categories]
    tasks = [(v, frames_per_window, isthing, min_gt_area, threads) for v in videos]
    vpq = np.zeros((len(window_sizes), len(categories), 4))
    stq = STQStats()
    num_frames = 0
    bar = dict(total=len(tasks), unit="video", desc="VPQ", disable=None if progress else True)
    if workers > 1 and len(tasks) > 1:
        # spawn, not fork: a fork of a process whose torch/OpenMP or OpenCV thread pools are running
        # can deadlock in the child (seen when the scorer runs inside a test session).
        with mp.get_context("spawn").Pool(workers, _worker_init) as pool:
            results = pool.imap(_score_video_star, tasks, chunksize=1)  # ordered: same sums
            for v, s, n in tqdm(results, **bar):
                vpq += v
                stq = stq + s
                num_frames += n
    else:
        for task in tqdm(tasks, **bar):
            v, s, n = score_video(*task)
            vpq += v
            stq = stq + s
            num_frames += n
    return make_report(
        vpq,
        stq,
        window_sizes,
        stride,
        categories,
        excluded,
        num_videos=len(videos),
        num_frames=num_frames,
    )
