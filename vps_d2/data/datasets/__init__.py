"""Dataset loading and registration."""
from . import builtin  # noqa: F401  (registers the predefined datasets)
from .cityscapes_vps import load_cityscapes_vps_json, register_cityscapes_vps  # noqa: F401
