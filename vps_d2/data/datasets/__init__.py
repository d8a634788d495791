"""Dataset loading and registration (``register_vps_dataset``; the built-in splits: ``register_all``;
annotated frames as an image panoptic dataset: ``register_image_view``)."""
from .builtin import register_all  # noqa: F401
from .cityscapes_vps import load_cityscapes_vps_json, register_cityscapes_vps  # noqa: F401
from .image_view import image_panoptic_metadata, register_image_view  # noqa: F401
from .register import register_from_config, register_from_spec, register_vps_dataset  # noqa: F401
