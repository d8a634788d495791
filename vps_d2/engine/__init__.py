"""Training and evaluation entry points."""
from .checkpoint import VPSCheckpointer  # noqa: F401
from .trainer import VPSTrainer  # noqa: F401
from .predictor import VideoPanopticPredictor  # noqa: F401
