"""Image panoptic mapper: a Base trained on single images (paper §V-D1, Table III "+CO", "+VP").

The paper's video models start from a Base pre-trained on an image panoptic dataset (COCO, or
VIPER's frames). ``INPUT.DATASET_MAPPER_NAME image_panoptic`` trains VPSNet's Base on detectron2's
standard panoptic dicts (``file_name``, ``pan_seg_file_name``, ``segments_info`` with contiguous
``category_id`` and ``isthing``: ``coco_2017_train_panoptic``, ``cityscapes_fine_panoptic_train``, or
``<video split>_images`` from :func:`~vps_d2.data.datasets.register_image_view`). Each image becomes
a one-frame clip with the video mapper's targets; the video variants then start from its weights.
"""
import logging
from typing import Dict, List

import numpy as np
from detectron2.config import configurable
from detectron2.data import MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T

from ..utils.errors import UserError
from .dataset_mapper import _index_map, frame_training_fields, read_frame, read_segments, target_maps
from .dataset_mapper import training_augmentations

logger = logging.getLogger(__name__)

__all__ = ["ImagePanopticDatasetMapper", "check_image_training"]


def check_image_training(cfg) -> None:
    """Single images train the Base only: the fuse head, the track head and the tube loss need
    frame pairs. One line naming the keys, before any data is read."""
    on = [k for k in ("FUSE_ON", "TRACK_ON", "TUBE_ON") if cfg.MODEL.VPS[k]]
    if on:
        raise UserError(
            f"INPUT.DATASET_MAPPER_NAME image_panoptic trains the Base only, but MODEL.VPS.{on[0]} is True; "
            "expected MODEL.VPS.FUSE_ON/TRACK_ON/TUBE_ON False (train the video variants from its "
            "weights with the video mapper: MODEL_ZOO.md, 'From an image-panoptic Base')"
        )


class ImagePanopticDatasetMapper:
    """Map a detectron2 image panoptic dict to a one-frame training clip::

        {"video_id": image_id, "frames": [frame]}  # frame: image, height, width, instances,
                                                   #   sem_seg, pan_seg, file_name (as the video mapper's)
    """

    @configurable
    def __init__(self, *, augmentations: List, image_format: str, semantic_to_thing: Dict[int, int],
                 semantic_to_stuff: Dict[int, int], ignore_label: int = 255):
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.maps = {"semantic_to_thing": dict(semantic_to_thing), "semantic_to_stuff": dict(semantic_to_stuff)}
        self.ignore_label = ignore_label
        logger.info(f"[ImagePanopticDatasetMapper] training augmentations: {augmentations}")

    @classmethod
    def from_config(cls, cfg, is_train: bool = True):
        if not is_train:
            raise ValueError("ImagePanopticDatasetMapper maps training images; test on a video split")
        check_image_training(cfg)
        meta = MetadataCatalog.get(cfg.DATASETS.TRAIN[0])
        return {
            "augmentations": training_augmentations(cfg),
            "image_format": cfg.INPUT.FORMAT,
            "ignore_label": meta.get("ignore_label", 255),
            **target_maps(meta),
        }

    def __call__(self, record: Dict) -> Dict:
        if "pan_seg_file_name" not in record:
            raise UserError(f"{record.get('file_name')}: no 'pan_seg_file_name', expected a panoptic dataset dict")
        image = read_frame(record["file_name"], self.image_format)
        ids = read_segments(record["pan_seg_file_name"], record["segments_info"])
        utils.check_image_size({"file_name": record["file_name"], "height": ids.shape[0], "width": ids.shape[1]}, image)
        index_map, table = _index_map(ids)
        aug_input = T.AugInput(image, sem_seg=index_map)
        self.augmentations(aug_input)
        id_map = table[np.asarray(aug_input.sem_seg).astype(np.int64)]
        frame = frame_training_fields(aug_input.image, id_map, record["segments_info"], self.maps, self.ignore_label)
        frame["file_name"] = record["file_name"]
        return {"video_id": record.get("image_id", 0), "frames": [frame]}
