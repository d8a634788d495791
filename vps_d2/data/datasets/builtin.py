"""Register the predefined datasets (SPEC §3) under ``$DETECTRON2_DATASETS`` (default ``datasets/``).

:func:`register_all` registers every split through :func:`register_vps_dataset` (as detectron2's
``builtin.py``); ``vps_d2.config.add_vps_config`` calls it once per process. Each name loads
lazily: an unprepared split only fails when it is asked for, naming the script that prepares it.
"""
import os
from typing import Optional

from ...evaluation.presets import PRESETS
from ..categories import CITYSCAPES_VPS_CATEGORIES, KITTI_STEP_CATEGORIES, VIPER_VPS_CATEGORIES, VIPSEG_CATEGORIES
from .cityscapes_vps import split_paths
from .image_view import register_image_view
from .register import register_vps_dataset

# name -> (folder under $DETECTRON2_DATASETS, split, has labels)
_CITYSCAPES_VPS = {
    "cityscapes_vps_train": ("cityscapes_vps", "train", True),
    "cityscapes_vps_val": ("cityscapes_vps", "val", True),
    "cityscapes_vps_test": ("cityscapes_vps", "test", False),
}
_VIPER_VPS = {
    "viper_vps_train": ("viper_vps", "train", True),
    "viper_vps_val": ("viper_vps", "val", True),
}
_VIPSEG = {
    "vipseg_train": ("vipseg", "train", True),
    "vipseg_val": ("vipseg", "val", True),
}
_KITTI_STEP = {
    "kitti_step_train": ("kitti_step", "train", True),
    "kitti_step_val": ("kitti_step", "val", True),
}
_SYNTHETIC_VPS = {
    "synthetic_vps_train": ("synthetic_vps", "train", True),
    "synthetic_vps_val": ("synthetic_vps", "val", True),
    "synthetic_vps_test": ("synthetic_vps", "test", True),
}
_SYNTHETIC_VPS_HARD = {
    "synthetic_vps_hard_train": ("synthetic_vps_hard", "train", True),
    "synthetic_vps_hard_val": ("synthetic_vps_hard", "val", True),
    "synthetic_vps_hard_test": ("synthetic_vps_hard", "test", True),
}

# The VIPER evaluation rules (original_release_facts.md §1.8): class 11 (mobilebarrier) excluded,
# ground-truth segments/tubes under 32x32 px ignored, every frame annotated (dense windows).
VIPER_EVAL_OPTIONS = {"vpq_excluded_category_ids": [11], "vpq_min_gt_area": 32 * 32}


def preset_options(name: str) -> dict:
    """Evaluator metadata of a benchmark preset (``vps_d2.evaluation.presets``): windows, STQ
    convention and the layout of exported predictions; every frame is annotated (λ = 1)."""
    p = PRESETS[name]
    return {
        "vpq_window_sizes": list(p.window_sizes),
        "stq_convention": p.stq_convention,
        "submission_format": p.layout,
    }


def _prepare_hint(dataset: str, root: str, split: str) -> str:
    out = os.path.join(root, dataset)
    return {
        "cityscapes_vps": "python datasets/prepare_cityscapes_vps.py --release DIR --sequences DIR "
        f"--out {out}",
        "viper_vps": f"python datasets/prepare_viper_vps.py --viper DIR --out {out} --split {split}",
        "vipseg": f"python datasets/prepare_vipseg.py --vipseg DIR --out {out}",
        "kitti_step": f"python datasets/prepare_kitti_step.py --step DIR --images DIR --out {out}",
        "synthetic_vps": f"python datasets/prepare_synthetic_vps.py --root {out} --split {split}",
        "synthetic_vps_hard": f"python datasets/prepare_synthetic_vps.py --root {out} --split {split} "
        "--difficulty hard",
    }[dataset]


def register_all(root: Optional[str] = None) -> None:
    """Register every predefined split under ``root`` (default ``$DETECTRON2_DATASETS``, else
    ``datasets``), and the annotated frames of every labelled split as ``<name>_images``
    (:func:`register_image_view`), replacing earlier registrations."""
    if root is None:
        root = os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets"))
    for names, categories, stride, extra in (
        (_CITYSCAPES_VPS, CITYSCAPES_VPS_CATEGORIES, 5, {}),
        (_VIPER_VPS, VIPER_VPS_CATEGORIES, 1, VIPER_EVAL_OPTIONS),
        (_VIPSEG, VIPSEG_CATEGORIES, 1, preset_options("vipseg")),
        (_KITTI_STEP, KITTI_STEP_CATEGORIES, 1, preset_options("kitti-step")),
        (_SYNTHETIC_VPS, CITYSCAPES_VPS_CATEGORIES, 5, {}),
        (_SYNTHETIC_VPS_HARD, CITYSCAPES_VPS_CATEGORIES, 5, {}),
    ):
        for name, (dataset, split, has_labels) in names.items():
            paths = split_paths(os.path.join(root, dataset), split)
            register_vps_dataset(
                name,
                paths["all_info_json"],
                paths["panoptic_json"] if has_labels else None,
                paths["image_root"],
                paths["panoptic_root"],
                categories=categories,
                annotation_stride=stride,
                prepare_hint=_prepare_hint(dataset, root, split),
                **extra,
            )
            if has_labels:  # <name>_images: its annotated frames, for a Base trained on single images
                register_image_view(name)
