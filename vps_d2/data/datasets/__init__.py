"""Dataset loading and registration (``register_vps_dataset``; the built-in splits: ``register_all``)."""
from .builtin import register_all  # noqa: F401
from .cityscapes_vps import load_cityscapes_vps_json, register_cityscapes_vps  # noqa: F401
from .register import register_from_config, register_from_spec, register_vps_dataset  # noqa: F401
