"""Benchmark presets of the scorer and the evaluator: windows, stride, exclusions, STQ convention
and the layout of the benchmark's official files (issue 14).

================  ====  ==================  =========================  ========  ===============
preset            λ     windows k (frames)  rules                      STQ SQ    official files
================  ====  ==================  =========================  ========  ===============
cityscapes-vps    5     0 5 10 15 (1-4)     —                          paper     Cityscapes-VPS
viper             1     0 4 9 14 (1,5,...)  class 11 out, tubes <32²   paper     Cityscapes-VPS
vipseg            1     0 1 3 5 7 (1,2,4,   —                          deeplab2  VIPSeg
                        6, 8 frames)
kitti-step        1     0 1 2 3 (1-4)       —                          deeplab2  KITTI-STEP PNGs
================  ====  ==================  =========================  ========  ===============

* VIPSeg's windows are those of its ``eval_vpq_vspw.py`` (1, 2, 4, 6 and 8 consecutive annotated
  frames) and its STQ that of ``eval_stq_vspw.py`` (deeplab2's STQuality, 124 classes, ignore 255).
* KITTI-STEP's official metric is STQ (deeplab2's STEP evaluation: 19 classes, things person and
  car, ignore 255, crowd = a thing pixel of instance 0); its VPQ is an extra, over windows of 1-4
  frames as ViP-DeepLab's video panoptic quality.
* ``paper`` / ``deeplab2``: :mod:`.stq`. Neither official STQ tool leaves a class out of SQ.
* Cityscapes-VPS and VIPER have no official STQ tool; their STQ follows the paper's definition.
"""

from dataclasses import dataclass
from typing import Dict, Tuple

__all__ = ["Preset", "PRESETS", "LAYOUTS"]

LAYOUTS = ("cityscapes-vps", "vipseg", "kitti-step")


@dataclass(frozen=True)
class Preset:
    """What a benchmark's official evaluation fixes (see the module table)."""

    name: str
    stride: int
    window_sizes: Tuple[int, ...]
    stq_convention: str
    layout: str
    excluded_category_ids: Tuple[int, ...] = ()
    min_gt_area: int = 0


PRESETS: Dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("cityscapes-vps", 5, (0, 5, 10, 15), "paper", "cityscapes-vps"),
        Preset("viper", 1, (0, 4, 9, 14), "paper", "cityscapes-vps", (11,), 32 * 32),
        Preset("vipseg", 1, (0, 1, 3, 5, 7), "deeplab2", "vipseg"),
        Preset("kitti-step", 1, (0, 1, 2, 3), "deeplab2", "kitti-step"),
    )
}
