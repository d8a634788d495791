"""Model components; importing registers them in detectron2's and vps_d2's registries."""
from . import flow, fuse  # noqa: F401  (registration)
from . import panoptic  # noqa: F401  (registers UPSNetSemanticHead)
from .meta_arch.vpsnet import FrameState, VPSNet  # noqa: F401
from .roi_heads import track_roi_heads  # noqa: F401  (registers TrackROIHeads)
