"""Training and evaluation entry points."""
from .trainer import VPSTrainer  # noqa: F401
from .predictor import VideoPanopticPredictor  # noqa: F401
