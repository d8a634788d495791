"""Category tables of the supported datasets, kept as data in one place.

Each entry: ``id`` (dataset category id, written in the panoptic JSON), ``name``, ``isthing``,
``color`` (RGB). Semantic channels follow the order of the table (here equal to the ids).
"""
from typing import Dict, List

# Cityscapes-VPS (original_release_facts.md §1.3): category id = Cityscapes trainId, 11 stuff then
# 8 things. The released table spells "vegitation"; we use the correct spelling (names are labels only).
CITYSCAPES_VPS_CATEGORIES: List[Dict] = [
    {"id": 0, "name": "road", "isthing": 0, "color": [128, 64, 128]},
    {"id": 1, "name": "sidewalk", "isthing": 0, "color": [244, 35, 232]},
    {"id": 2, "name": "building", "isthing": 0, "color": [70, 70, 70]},
    {"id": 3, "name": "wall", "isthing": 0, "color": [102, 102, 156]},
    {"id": 4, "name": "fence", "isthing": 0, "color": [190, 153, 153]},
    {"id": 5, "name": "pole", "isthing": 0, "color": [153, 153, 153]},
    {"id": 6, "name": "traffic light", "isthing": 0, "color": [250, 170, 30]},
    {"id": 7, "name": "traffic sign", "isthing": 0, "color": [220, 220, 0]},
    {"id": 8, "name": "vegetation", "isthing": 0, "color": [107, 142, 35]},
    {"id": 9, "name": "terrain", "isthing": 0, "color": [152, 251, 152]},
    {"id": 10, "name": "sky", "isthing": 0, "color": [70, 130, 180]},
    {"id": 11, "name": "person", "isthing": 1, "color": [220, 20, 60]},
    {"id": 12, "name": "rider", "isthing": 1, "color": [255, 0, 0]},
    {"id": 13, "name": "car", "isthing": 1, "color": [0, 0, 142]},
    {"id": 14, "name": "truck", "isthing": 1, "color": [0, 0, 70]},
    {"id": 15, "name": "bus", "isthing": 1, "color": [0, 60, 100]},
    {"id": 16, "name": "train", "isthing": 1, "color": [0, 80, 100]},
    {"id": 17, "name": "motorcycle", "isthing": 1, "color": [0, 0, 230]},
    {"id": 18, "name": "bicycle", "isthing": 1, "color": [119, 11, 32]},
]

# VIPER with the 23 VPS classes (SPEC §3): 13 stuff (0..12) then 10 things (13..22).
# ``viper_id`` is the raw class id in VIPER's classes.csv.
VIPER_VPS_CATEGORIES: List[Dict] = [
    {"id": 0, "viper_id": 2, "name": "sky", "isthing": 0, "color": [70, 130, 180]},
    {"id": 1, "viper_id": 3, "name": "road", "isthing": 0, "color": [128, 64, 128]},
    {"id": 2, "viper_id": 4, "name": "sidewalk", "isthing": 0, "color": [244, 35, 232]},
    {"id": 3, "viper_id": 6, "name": "terrain", "isthing": 0, "color": [152, 251, 152]},
    {"id": 4, "viper_id": 7, "name": "tree", "isthing": 0, "color": [87, 182, 35]},
    {"id": 5, "viper_id": 8, "name": "vegetation", "isthing": 0, "color": [35, 142, 35]},
    {"id": 6, "viper_id": 9, "name": "building", "isthing": 0, "color": [70, 70, 70]},
    {"id": 7, "viper_id": 10, "name": "infrastructure", "isthing": 0, "color": [153, 153, 153]},
    {"id": 8, "viper_id": 11, "name": "fence", "isthing": 0, "color": [190, 153, 153]},
    {"id": 9, "viper_id": 12, "name": "billboard", "isthing": 0, "color": [150, 20, 20]},
    {"id": 10, "viper_id": 14, "name": "trafficsign", "isthing": 0, "color": [220, 220, 0]},
    {"id": 11, "viper_id": 15, "name": "mobilebarrier", "isthing": 0, "color": [180, 180, 100]},
    {"id": 12, "viper_id": 18, "name": "trash", "isthing": 0, "color": [81, 0, 21]},
    {"id": 13, "viper_id": 13, "name": "trafficlight", "isthing": 1, "color": [250, 170, 30]},
    {"id": 14, "viper_id": 16, "name": "firehydrant", "isthing": 1, "color": [173, 153, 153]},
    {"id": 15, "viper_id": 17, "name": "chair", "isthing": 1, "color": [168, 153, 153]},
    {"id": 16, "viper_id": 19, "name": "trashcan", "isthing": 1, "color": [81, 0, 81]},
    {"id": 17, "viper_id": 20, "name": "person", "isthing": 1, "color": [220, 20, 60]},
    {"id": 18, "viper_id": 23, "name": "motorcycle", "isthing": 1, "color": [0, 0, 230]},
    {"id": 19, "viper_id": 24, "name": "car", "isthing": 1, "color": [0, 0, 142]},
    {"id": 20, "viper_id": 25, "name": "van", "isthing": 1, "color": [0, 80, 100]},
    {"id": 21, "viper_id": 26, "name": "bus", "isthing": 1, "color": [0, 60, 100]},
    {"id": 22, "viper_id": 27, "name": "truck", "isthing": 1, "color": [0, 0, 70]},
]
# Raw VIPER classes that become void (SPEC §3): unlabeled, ambiguous, railtrack, animal, bicycle,
# trailer, train, plane, boat.
VIPER_VOID_IDS = (0, 1, 5, 21, 22, 28, 29, 30, 31)


def category_metadata(categories: List[Dict]) -> Dict:
    """detectron2 panoptic metadata for a category table.

    ``stuff_*`` covers every category (the semantic head predicts all of them, as in detectron2's
    Cityscapes panoptic metadata); ``thing_*`` only the things, numbered for the detector.
    """
    thing = [c for c in categories if c["isthing"]]
    return {
        "thing_classes": [c["name"] for c in thing],
        "thing_colors": [tuple(c["color"]) for c in thing],
        "stuff_classes": [c["name"] for c in categories],
        "stuff_colors": [tuple(c["color"]) for c in categories],
        "thing_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(thing)},
        "stuff_dataset_id_to_contiguous_id": {c["id"]: i for i, c in enumerate(categories)},
        "categories": [dict(c) for c in categories],
    }
