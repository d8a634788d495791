"""Data: the unified video-panoptic format, its datasets, the synthetic generator and the mapper."""
from . import datasets  # noqa: F401  (registers the predefined datasets)
from .dataset_mapper import VideoPanopticDatasetMapper  # noqa: F401
