"""Data: the unified video-panoptic format, its datasets, the synthetic generator and the mapper.

Light to import (the category tables are plain data, used by the torch-free scorer): importing
``vps_d2.data.datasets`` registers the predefined datasets; ``VideoPanopticDatasetMapper`` loads
torch and detectron2 on first use.
"""


def __getattr__(name: str):
    if name == "VideoPanopticDatasetMapper":
        from .dataset_mapper import VideoPanopticDatasetMapper

        return VideoPanopticDatasetMapper
    if name == "datasets":
        from . import datasets

        return datasets
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
