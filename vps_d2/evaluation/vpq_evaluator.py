"""``VPQEvaluator``: VPQ (paper §III-B, Eq. 1), image PQ and STQ as a Detectron2 evaluator.

``process`` receives whole videos (one dict per video from the test mapper, and the model's
per-video outputs), evaluates their annotated frames at once and keeps only small per-class
statistics; ``evaluate`` gathers those over ranks (``detectron2.utils.comm``) and returns
``{"vpq": {"VPQ", "VPQ_th", "VPQ_st", "VPQ@0", "VPQ@5", ..., "PQ", "STQ", "AQ", "mIoU", ...}}`` in
percent, which ``print_csv_format`` and ``verify_results`` accept.

With ``write_submission`` it also writes the predictions in a benchmark's official layout
(:mod:`.export`: Cityscapes-VPS ``pred.json`` + ``pan_pred/``, VIPSeg's, KITTI-STEP's PNGs; dataset
category ids) into ``output_dir``: each rank writes its PNGs there (the folder must be shared by the
ranks, as ``OUTPUT_DIR`` is) and the main rank writes ``pred.json``.
"""

import itertools
import logging
import os
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.utils import comm

from ..utils.errors import UserError
from ..utils.file_io import atomic_write_json
from .report import flat_metrics, format_report, make_report
from .scoring import default_window_sizes
from .stq import STQ_CONVENTIONS, STQStats, stq_video_stats
from .export import FORMATS, frame_names, make_writer
from .submission_io import decode_panoptic_png
from .vpq import VideoCounter, vpq_video_stats, window_frames

logger = logging.getLogger(__name__)

__all__ = ["VPQEvaluator"]


class VPQEvaluator(DatasetEvaluator):
    """Video panoptic quality of a video dataset in the unified format.

    Args:
        dataset_name: a registered dataset whose metadata has ``stuff_dataset_id_to_contiguous_id``
            (every category), ``thing_dataset_id_to_contiguous_id``, ``stuff_classes``,
            ``annotation_stride`` and optionally ``vpq_window_sizes``,
            ``vpq_excluded_category_ids`` and ``vpq_min_gt_area`` (VIPER's rules) and
            ``stq_convention`` (a benchmark preset's, :mod:`.presets`).
        output_dir: where the report (``vpq_results.json``), plots and submission files go.
        window_sizes: window sizes k in raw frames; default: the metadata's, else
            ``0, λ, 2λ, 3λ`` (``0, 4, 9, 14`` when λ = 1).
        annotation_stride: λ; default: the metadata's ``annotation_stride``.
        write_submission: write ``pred.json`` + ``pan_pred/`` into ``output_dir``.
        write_plots: write ``vpq_vs_k.png`` and ``vpq_per_class.png`` into ``output_dir``.
        stq_convention: ``"paper"`` or ``"deeplab2"`` (:mod:`.stq`); default: the metadata's,
            else ``"paper"``.
        submission_format: layout of the submission files (:data:`.export.FORMATS`); default: the
            metadata's ``submission_format``, else ``"cityscapes-vps"``.
    """

    def __init__(
        self,
        dataset_name: str,
        output_dir: Optional[str] = None,
        window_sizes: Optional[Sequence[int]] = None,
        annotation_stride: Optional[int] = None,
        write_submission: bool = False,
        write_plots: bool = False,
        stq_convention: Optional[str] = None,
        submission_format: Optional[str] = None,
    ):
        meta = MetadataCatalog.get(dataset_name)
        self._dataset_name = dataset_name
        self._output_dir = output_dir
        self._stride = int(annotation_stride or meta.get("annotation_stride", 0))
        if self._stride <= 0:
            raise ValueError(
                f"dataset '{dataset_name}' has no 'annotation_stride'; pass annotation_stride"
            )
        self._window_sizes = [
            int(k)
            for k in (
                window_sizes
                or meta.get("vpq_window_sizes", None)
                or default_window_sizes(self._stride)
            )
        ]
        self._frames_per_window = [window_frames(k, self._stride) for k in self._window_sizes]
        to_contiguous: Dict[int, int] = dict(meta.stuff_dataset_id_to_contiguous_id)
        things = set(meta.thing_dataset_id_to_contiguous_id)
        self._to_dataset = {c: d for d, c in to_contiguous.items()}
        names = list(meta.stuff_classes)
        self._categories = [
            {"id": self._to_dataset[c], "name": names[c], "isthing": self._to_dataset[c] in things}
            for c in range(len(names))
        ]
        self._isthing = [c["isthing"] for c in self._categories]
        self._excluded = [to_contiguous[d] for d in meta.get("vpq_excluded_category_ids", [])]
        self._min_gt_area = int(meta.get("vpq_min_gt_area", 0))
        self._stq_convention = stq_convention or meta.get("stq_convention", "paper")
        if self._stq_convention not in STQ_CONVENTIONS:
            raise UserError(
                f"TEST.VPQ.STQ_CONVENTION: '{self._stq_convention}', expected one of "
                f"{STQ_CONVENTIONS} (or '' for the dataset's)"
            )
        if (write_submission or write_plots) and not output_dir:
            raise ValueError("write_submission / write_plots need an output_dir")
        self._write_submission = write_submission
        self._format = submission_format or meta.get("submission_format", "cityscapes-vps")
        if self._format not in FORMATS:
            raise UserError(
                f"TEST.VPQ.SUBMISSION_FORMAT: '{self._format}', expected one of {FORMATS} (or '' "
                "for the dataset's)"
            )
        self._write_plots = write_plots
        self.report: Optional[Dict] = None
        self.reset()

    @classmethod
    def from_config(
        cls, cfg, dataset_name: str, output_dir: Optional[str] = None
    ) -> "VPQEvaluator":
        """Build from ``TEST.VPQ.*`` and ``INPUT.VIDEO.ANNOTATION_STRIDE`` (``add_vps_config``)."""
        from ..config import annotation_stride

        return cls(
            dataset_name,
            output_dir=output_dir,
            window_sizes=list(cfg.TEST.VPQ.WINDOW_SIZES) or None,
            annotation_stride=annotation_stride(cfg, MetadataCatalog.get(dataset_name)),
            write_submission=cfg.TEST.VPQ.WRITE_SUBMISSION,
            write_plots=cfg.TEST.VPQ.WRITE_PLOTS,
            stq_convention=cfg.TEST.VPQ.STQ_CONVENTION or None,
            submission_format=cfg.TEST.VPQ.SUBMISSION_FORMAT or None,
        )

    def reset(self):
        self._vpq = np.zeros((len(self._window_sizes), len(self._categories), 4))
        self._stq = STQStats()
        self._num_videos = 0
        self._num_frames = 0
        self._writer = None
        if self._write_submission:
            things = [c["id"] for c in self._categories if c["isthing"]]
            self._writer = make_writer(self._format, self._output_dir, things)

    def process(self, inputs: List[Dict], outputs: List[Dict]):
        """Evaluate whole videos.

        Args:
            inputs: per video, ``{"video_id", "frames": [{"frame_id", "annotated", "image_id",
                "pan_seg_file_name", "segments_info", "file_name", ...}]}`` (every frame, in order).
            outputs: per video, ``{"video_id", "frames": [{"panoptic_seg": (LongTensor[H, W],
                [{"id", "category_id" (contiguous), ...}])}]}``, one per input frame.
        """
        for inp, out in zip(inputs, outputs):
            frames, preds = inp["frames"], out["frames"]
            if len(frames) != len(preds):
                raise ValueError(
                    f"video {inp.get('video_id')}: {len(frames)} input frames but "
                    f"{len(preds)} outputs"
                )
            maps, segs = [], []
            for pred in preds:
                seg, infos = pred["panoptic_seg"]
                maps.append(seg)
                segs.append([(int(s["id"]), int(s["category_id"])) for s in infos])
            annotated = [t for t, f in enumerate(frames) if f.get("annotated")]
            if self._writer is not None:
                self._write_frames(inp, frames, maps, segs, annotated)
            if annotated:
                self._evaluate_video(inp, frames, maps, segs, annotated)

    def _evaluate_video(self, inp, frames, maps, segs, annotated):
        gt_segs = [
            [
                (int(s["id"]), int(s["category_id"]), int(s.get("iscrowd", 0)))
                for s in frames[t]["segments_info"]
            ]
            for t in annotated
        ]
        names = [
            f"video {inp.get('video_id')} frame {frames[t].get('frame_id', t)}" for t in annotated
        ]
        counter = VideoCounter(
            gt_segs,
            [segs[t] for t in annotated],
            len(self._categories),
            strict=False,
            pred_names=names,
        )
        for i, t in enumerate(annotated):
            counter.add_frame(
                i, decode_panoptic_png(frames[t]["pan_seg_file_name"]), _to_numpy(maps[t])
            )
        tables = counter.result()
        self._vpq += vpq_video_stats(
            tables, self._frames_per_window, len(self._categories), self._min_gt_area
        )
        self._stq = self._stq + stq_video_stats(tables, self._isthing)
        self._num_videos += 1
        self._num_frames += len(annotated)

    def _write_frames(self, inp, frames, maps, segs, annotated):
        """Write the annotated frames (or, in a video without labels, every λ-th frame)."""
        if not annotated:
            annotated = [
                t
                for t, f in enumerate(frames)
                if (f.get("frame_id", t + 1) % 10000) % self._stride == 0
            ]
        for t in annotated:
            f = frames[t]
            image_id = f.get("image_id") or (
                f"{int(inp['video_id']):04d}_{int(f['frame_id']) % 10000:04d}_"
                f"{_stem(f['file_name'])}"
            )
            self._writer.add(
                *frame_names(self._format, image_id),
                _to_numpy(maps[t]),
                [(i, self._to_dataset[c]) for i, c in segs[t]],
            )

    def evaluate(self):
        comm.synchronize()
        state = (
            self._vpq,
            self._stq,
            self._num_videos,
            self._num_frames,
            self._writer.annotations if self._writer is not None else [],
        )
        gathered = comm.gather(state, dst=0)
        if not comm.is_main_process():
            return {}
        vpq = sum(g[0] for g in gathered)
        stq = STQStats()
        for g in gathered:
            stq = stq + g[1]
        num_videos = sum(g[2] for g in gathered)
        num_frames = sum(g[3] for g in gathered)
        if self._writer is not None:
            annotations = list(itertools.chain.from_iterable(g[4] for g in gathered))
            path = self._writer.close(annotations)
            logger.info(f"Wrote the predictions in the {self._format} layout: {path}")
        if num_frames == 0:
            logger.warning(
                f"{self._dataset_name}: no annotated frame was evaluated; no VPQ to report"
            )
            return {}
        self.report = make_report(
            vpq,
            stq,
            self._window_sizes,
            self._stride,
            self._categories,
            self._excluded,
            num_videos=num_videos,
            num_frames=num_frames,
            stq_convention=self._stq_convention,
        )
        logger.info(f"Evaluation results of {self._dataset_name}:\n" + format_report(self.report))
        if self._output_dir:
            atomic_write_json(os.path.join(self._output_dir, "vpq_results.json"), self.report)
            if self._write_plots:
                from .plots import plot_report

                plot_report(self.report, self._output_dir)
        return OrderedDict({"vpq": flat_metrics(self.report)})


def _stem(file_name: str) -> str:
    return os.path.splitext(os.path.basename(file_name))[0].replace("_leftImg8bit", "")


def _to_numpy(seg) -> np.ndarray:
    if isinstance(seg, torch.Tensor):
        return seg.detach().to("cpu", torch.int64).numpy()
    return np.asarray(seg, dtype=np.int64)
