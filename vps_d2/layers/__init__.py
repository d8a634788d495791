"""Layers and compiled ops of vps_d2 (the ``vps_d2._C`` extension is optional)."""
from .extension import extension_info, has_extension  # noqa: F401
from .flow_warp import FlowWarp, flow_warp, flow_warp_reference  # noqa: F401
from .gradient_scale import scale_gradient  # noqa: F401
