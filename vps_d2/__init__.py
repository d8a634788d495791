"""vps_d2: VPSNet++ video panoptic segmentation as a Detectron2 extension.

Importing the package registers its components: the datasets (``DatasetCatalog`` /
``MetadataCatalog``), the meta-architecture ``VPSNet``, ``TrackROIHeads``, ``UPSNetSemanticHead``
and vps_d2's own registries (flow sources, fuse heads, track heads).
"""
__version__ = "0.1.0"

from . import data  # noqa: F401  (registers the datasets)
from . import evaluation  # noqa: F401  (VPQEvaluator)
from . import modeling  # noqa: F401  (registers the model components)
from .config import add_vps_config  # noqa: F401
