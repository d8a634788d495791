"""The offline scorer: a submission folder against the ground truth, video by video.

Three layouts of official files (:mod:`.presets`): ``cityscapes-vps`` (the unified format; frames
are grouped into videos by the video field of their image id, ``VVVV_FFFF_...``, and ordered by
frame number), ``vipseg`` (:mod:`.vipseg_io`) and ``kitti-step`` (:mod:`.step_io`). Videos may have
any number of annotated frames. Each video is decoded, counted
and reduced to small statistics (:mod:`.vpq`, :mod:`.stq`) in one process or in a pool of workers;
only those statistics travel back. PNG decoding (:mod:`.png_io`) runs in a few threads per
process, a few frames ahead of the counting: its decoders (Wuffs, OpenCV) release the GIL.
"""

import collections
import functools
import itertools
import multiprocessing as mp
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from . import submission_io as sio
from .presets import LAYOUTS
from .report import make_report
from .step_io import count_pairs, list_sequences, step_frame
from .stq import STQStats, stq_video_stats
from .vpq import SegmentListError, VideoCounter, vpq_video_stats, window_frames

__all__ = [
    "FrameJob",
    "build_jobs",
    "default_window_sizes",
    "default_workers",
    "prefetch",
    "retain_freed_memory",
    "score_step_video",
    "score_submission",
    "score_video",
]


@dataclass
class FrameJob:
    """One annotated frame to score; the segment lists are None for KITTI-STEP PNGs, whose
    segments come from their pixels."""

    image_id: str
    gt_png: str
    gt_segments: Optional[List[Tuple[int, int, int]]]
    pred_png: str
    pred_segments: Optional[List[Tuple[int, int]]]
    pred_json: Optional[str]


def default_window_sizes(stride: int) -> List[int]:
    """Windows of 1, 2, 3, 4 annotated frames (k = 0, 5, 10, 15 at λ = 5); at λ = 1 (VIPER) the
    released 1/5/10/15-frame windows, k = 0, 4, 9, 14 (SPEC §9)."""
    return [0, 4, 9, 14] if stride == 1 else [0, stride, 2 * stride, 3 * stride]


def default_workers() -> int:
    """Processes of the scorer by default: one per CPU core, at most 8."""
    return min(os.cpu_count() or 1, 8)


def build_jobs(
    gt_json: Optional[str],
    gt_dir: str,
    pred_json: Optional[str],
    pred_dir: str,
    layout: str = "cityscapes-vps",
) -> Tuple[List[List[FrameJob]], List[Dict]]:
    """Read the ground truth and the submission in ``layout``, pair them, group frames into
    videos; returns (videos, categories)."""
    if layout == "vipseg":
        from .vipseg_io import load_vipseg_videos

        videos, categories = load_vipseg_videos(gt_json, gt_dir, pred_json, pred_dir)
        return [[FrameJob(*f[:5], pred_json) for f in v] for v in videos], categories
    if layout == "kitti-step":
        return _step_jobs(gt_dir, pred_dir)
    if layout != "cityscapes-vps":
        raise sio.EvaluationInputError(f"unknown layout '{layout}', expected one of {LAYOUTS}")
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


def _step_jobs(gt_dir: str, pred_dir: str) -> Tuple[List[List[FrameJob]], List[Dict]]:
    """KITTI-STEP: every ground-truth PNG ``<sequence>/<frame>.png`` and the prediction of the same
    name."""
    from ..data.categories import KITTI_STEP_CATEGORIES

    pred = dict(list_sequences(pred_dir, "--pred-dir"))
    videos = []
    for seq, names in list_sequences(gt_dir, "--gt-dir"):
        if seq not in pred:
            raise sio.EvaluationInputError(
                f"--pred-dir {pred_dir}: no folder '{seq}', expected one per ground-truth sequence"
            )
        missing = sorted(set(names) - set(pred[seq]))
        if missing:
            raise sio.EvaluationInputError(
                f"{os.path.join(pred_dir, seq, missing[0])}: file not found "
                f"({len(missing)} frame(s) of sequence '{seq}' have no prediction)"
            )
        videos.append(
            [
                FrameJob(f"{seq}/{n}", os.path.join(gt_dir, seq, n), None,
                         os.path.join(pred_dir, seq, n), None, None)
                for n in names
            ]
        )
    categories = [{k: c[k] for k in ("id", "name", "isthing")} for c in KITTI_STEP_CATEGORIES]
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


def score_step_video(
    frames: Sequence[FrameJob],
    frames_per_window: Sequence[int],
    isthing: Sequence[bool],
    min_gt_area: int = 0,
    threads: int = 2,
) -> Tuple[np.ndarray, STQStats, int]:
    """:func:`score_video` for KITTI-STEP PNGs: each frame is counted as it is decoded, into
    (gt id, pred id, pixels) triplets, and the video's segment lists come from the pixels."""
    gt_segments, pred_segments, triplets = [], [], []
    read = functools.partial(step_frame, isthing=isthing)
    pngs = [png for f in frames for png in (f.gt_png, f.pred_png)]
    with ThreadPoolExecutor(max(threads, 1)) as pool:
        maps = prefetch(read, pngs, pool, ahead=2 * max(threads, 1))
        for f in frames:
            (gt, gt_present, gt_segs), (pred, pred_present, pred_segs) = next(maps), next(maps)
            sio.check_size(pred, gt, f.pred_png, f.image_id)
            triplets.append(count_pairs(gt, gt_present, pred, pred_present))
            gt_segments.append(gt_segs)
            pred_segments.append([(i, c) for i, c, _ in pred_segs])
    C = len(isthing)
    counter = VideoCounter(gt_segments, pred_segments, C, strict=True)
    for t, triplet in enumerate(triplets):
        counter.add_pairs(t, *triplet)
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


def _run_task(task):
    fn, args = task
    return fn(*args)


def retain_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks of up to 64 MB for reuse (up to 256 MB in all)
    rather than give them back to the OS, in a process that scores: every decoded frame is a new
    8 MB buffer, whose 2,048 pages are otherwise faulted in afresh (measured on the 50-video
    benchmark: 4,090 faults and 9 of 13 ms per decode; the scorer 25 % slower). Returns False where
    ``mallopt`` does not exist (not glibc). Called by the CLI and in the worker processes, never on
    import: it changes the whole process."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
    return bool(mallopt(M_MMAP_THRESHOLD, 64 << 20)) and bool(mallopt(M_TRIM_THRESHOLD, 256 << 20))


def _worker_init():
    import cv2

    cv2.setNumThreads(1)  # one process per core: OpenCV's own threads would only oversubscribe
    retain_freed_memory()


def score_submission(
    gt_json: Optional[str],
    gt_dir: str,
    pred_json: Optional[str],
    pred_dir: str,
    window_sizes: Optional[Sequence[int]] = None,
    stride: int = 5,
    workers: int = 1,
    excluded_category_ids: Sequence[int] = (),
    min_gt_area: int = 0,
    progress: bool = True,
    threads: int = 2,
    layout: str = "cityscapes-vps",
    stq_convention: str = "paper",
) -> Dict:
    """Score a submission; returns the report of :func:`~.report.make_report` (percent).

    ``workers`` processes score videos in parallel; each decodes PNGs in ``threads`` threads.
    ``layout`` names the official files read (KITTI-STEP needs no JSON files); a benchmark's
    settings are in :data:`~.presets.PRESETS`.
    """
    window_sizes = list(window_sizes) if window_sizes else default_window_sizes(stride)
    try:
        frames_per_window = [window_frames(k, stride) for k in window_sizes]
    except ValueError as e:
        raise sio.EvaluationInputError(str(e)) from None
    videos, categories = build_jobs(gt_json, gt_dir, pred_json, pred_dir, layout)
    ids = [c["id"] for c in categories]
    unknown = [c for c in excluded_category_ids if c not in ids]
    if unknown:
        raise sio.EvaluationInputError(
            f"{gt_json}: excluded category {unknown[0]} is not a category"
        )
    excluded = [ids.index(c) for c in excluded_category_ids]
    isthing = [bool(c.get("isthing", 0)) for c in categories]
    fn = score_step_video if layout == "kitti-step" else score_video
    tasks = [(fn, (v, frames_per_window, isthing, min_gt_area, threads)) for v in videos]
    vpq = np.zeros((len(window_sizes), len(categories), 4))
    stq = STQStats()
    num_frames = 0
    bar = dict(total=len(tasks), unit="video", desc="VPQ", disable=None if progress else True)
    if workers > 1 and len(tasks) > 1:
        # spawn, not fork: a fork of a process whose torch/OpenMP or OpenCV thread pools are running
        # can deadlock in the child (seen when the scorer runs inside a test session).
        with mp.get_context("spawn").Pool(workers, _worker_init) as pool:
            results = pool.imap(_run_task, tasks, chunksize=1)  # ordered: same sums
            for v, s, n in tqdm(results, **bar):
                vpq += v
                stq = stq + s
                num_frames += n
    else:
        for task in tqdm(tasks, **bar):
            v, s, n = _run_task(task)
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
        stq_convention=stq_convention,
    )
