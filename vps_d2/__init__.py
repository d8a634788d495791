"""vps_d2: VPSNet++ video panoptic segmentation as a Detectron2 extension.

Importing the package registers its components: the datasets (``DatasetCatalog`` /
``MetadataCatalog``) and, as they land, the model parts in detectron2's registries.
"""
__version__ = "0.1.0"

from . import data  # noqa: F401  (registers the datasets)
from .config import add_vps_config  # noqa: F401
