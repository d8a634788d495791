"""vps_d2: VPSNet++ video panoptic segmentation as a Detectron2 extension.

Importing the package registers its components: the datasets (``DatasetCatalog`` /
``MetadataCatalog``), the meta-architecture ``VPSNet``, ``TrackROIHeads``, ``UPSNetSemanticHead``
and vps_d2's own registries (flow sources, fuse heads, track heads).
"""
__version__ = "0.1.0"

import warnings

# detectron2 0.7 / fvcore call torch.jit.script at import, deprecated in torch 2.14; the warning says
# nothing to vps_d2's users and would sit above every CLI's one-line error.
warnings.filterwarnings("ignore", message=r"`torch.jit.script` is deprecated", category=FutureWarning)
warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated", category=UserWarning)

from . import data  # noqa: F401  (registers the datasets)
from . import evaluation  # noqa: F401  (VPQEvaluator)
from . import modeling  # noqa: F401  (registers the model components)
from .config import add_vps_config  # noqa: F401
