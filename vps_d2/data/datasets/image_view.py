"""A video panoptic dataset's annotated frames as an image panoptic dataset (issue 23).

The paper's models start from a Base pre-trained on single images (§V-D1, Table III "+CO", "+VP").
``register_image_view("viper_vps_train")`` registers ``viper_vps_train_images``: one detectron2
standard panoptic dict per annotated frame (``file_name``, ``height``, ``width``, ``image_id``,
``pan_seg_file_name``, ``segments_info``), the format of detectron2's own image panoptic datasets
(``coco_2017_train_panoptic``, ``cityscapes_fine_panoptic_train``), which
``INPUT.DATASET_MAPPER_NAME image_panoptic`` trains the Base on. Nothing is read at registration.
"""
from typing import Optional

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.catalog import Metadata

from ...utils.errors import UserError
from .cityscapes_vps import CATEGORY_KEYS

IMAGE_PANOPTIC_EVALUATORS = ("coco_panoptic_seg", "cityscapes_panoptic_seg")  # detectron2's image panoptic sets


class _ViewMetadata(Metadata):
    """Metadata whose category keys are the video dataset's, read when first asked for."""

    def __getattr__(self, key):
        if key in CATEGORY_KEYS or key == "ignore_label":
            return getattr(MetadataCatalog.get(self.__dict__["image_view_of"]), key)
        return super().__getattr__(key)


def register_image_view(video_name: str, name: Optional[str] = None) -> str:
    """Register the annotated frames of the registered video dataset ``video_name`` as the image
    panoptic dataset ``name`` (default ``<video_name>_images``) and return its name."""
    name = name or f"{video_name}_images"
    for catalog in (DatasetCatalog, MetadataCatalog):
        if name in catalog.list():
            catalog.remove(name)

    def load():
        return [
            {
                "file_name": video["file_names"][i],
                "height": video["height"],
                "width": video["width"],
                "image_id": video["image_ids"][i],
                "pan_seg_file_name": video["pan_seg_file_names"][i],
                "segments_info": video["segments_infos"][i],
            }
            for video in DatasetCatalog.get(video_name)
            for i, annotated in enumerate(video["annotated"])
            if annotated
        ]

    DatasetCatalog.register(name, load)
    MetadataCatalog[name] = _ViewMetadata(name=name, image_view_of=video_name)
    return name


def image_panoptic_metadata(name: str, key: str):
    """The metadata of ``name``, checked to be an image panoptic dataset (detectron2's, or an image
    view); ``key`` is the config key that named it, for the one-line error of a wrong name."""
    def is_image_panoptic(n):
        meta = MetadataCatalog.get(n)
        return meta.get("evaluator_type") in IMAGE_PANOPTIC_EVALUATORS or "image_view_of" in meta.__dict__

    if name not in DatasetCatalog.list() or not is_image_panoptic(name):
        known = [n for n in DatasetCatalog.list() if is_image_panoptic(n)]
        raise UserError(
            f"{key}: '{name}' is not a registered image panoptic dataset (INPUT.DATASET_MAPPER_NAME "
            f"image_panoptic), expected one of {known}"
        )
    return MetadataCatalog.get(name)
