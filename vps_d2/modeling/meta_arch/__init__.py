from .vpsnet import FrameState, VPSNet  # noqa: F401
