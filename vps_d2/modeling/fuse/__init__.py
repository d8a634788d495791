"""Fuse heads: pixel-level fusion of a reference frame into a target frame (paper §V-C1)."""
from . import align_attend  # noqa: F401  (registration)
from .align_attend import flow_epe_loss  # noqa: F401
from .registry import FUSE_HEAD_REGISTRY, build_fuse_head  # noqa: F401
