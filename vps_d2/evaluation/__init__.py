"""Evaluation: VPQ (paper §III-B, Eq. 1), image PQ and STQ, in-process and offline.

* :mod:`.vpq` / :mod:`.stq`: the metrics as pure functions over counted videos;
* :mod:`.report`: percentages, the report dict and its tables; :mod:`.plots`: its pictures;
* :mod:`.submission_io`: ``pred.json`` + ``pan_pred/`` reading and writing;
* :mod:`.scoring` and ``python -m vps_d2.evaluation``: the offline scorer of a submission folder;
* :class:`VPQEvaluator`: the Detectron2 ``DatasetEvaluator``.

Only numpy, OpenCV and SciPy are imported here: torch and detectron2 come with
:class:`VPQEvaluator`, loaded on first use, so the offline scorer and its workers start fast.
"""

from .stq import STQStats, stq_video_stats, summarize_stq  # noqa: F401
from .vpq import VideoCounter, VideoTables, summarize_vpq, vpq_video_stats  # noqa: F401
from .vpq import window_frames  # noqa: F401


def __getattr__(name: str):
    if name == "VPQEvaluator":
        from .vpq_evaluator import VPQEvaluator

        return VPQEvaluator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
