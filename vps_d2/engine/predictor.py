"""Online predictor for one video stream (frames arrive one at a time, e.g. from a camera)."""
from typing import Dict

import numpy as np
import torch
from detectron2.data import MetadataCatalog
from detectron2.data import transforms as T
from detectron2.modeling import build_model

from ..modeling.meta_arch.video_inference import VideoSession
from ..utils.errors import UserError
from .checkpoint import VPSCheckpointer, checkpoint_read_errors


class WeightsMismatchError(UserError):
    """The checkpoint does not fit the model that the config builds."""


def check_weights_match(model: torch.nn.Module, path: str) -> None:
    """Raise :class:`WeightsMismatchError` (naming a parameter) if ``path`` was trained for another
    config: a parameter of the model missing from the checkpoint, or one of a different shape."""
    with checkpoint_read_errors(path):
        state = torch.load(path, map_location="cpu", weights_only=False)
    state = state.get("model", state) if isinstance(state, dict) else state
    own = model.state_dict()
    for name, value in own.items():
        if name not in state:
            raise WeightsMismatchError(f"{path}: parameter '{name}' of the configured model is not in the checkpoint")
        if tuple(state[name].shape) != tuple(value.shape):
            raise WeightsMismatchError(
                f"{path}: parameter '{name}' has shape {tuple(state[name].shape)} in the checkpoint but "
                f"{tuple(value.shape)} in the configured model"
            )


class VideoPanopticPredictor:
    """Like detectron2's ``DefaultPredictor``, for video: ``reset()`` starts a video and each call
    takes the next frame (HxWx3 uint8 in BGR) and returns ``{"panoptic_seg": (ids, segments_info)}``
    with ids consistent through the video; ``segments_info`` entries carry ``track_id``.
    """

    def __init__(self, cfg):
        self.cfg = cfg.clone()
        self.model = build_model(self.cfg)
        self.model.eval()
        if cfg.MODEL.WEIGHTS:
            if not cfg.MODEL.WEIGHTS.startswith("detectron2://"):
                check_weights_match(self.model, cfg.MODEL.WEIGHTS)
            VPSCheckpointer(self.model).load(cfg.MODEL.WEIGHTS)
        self.metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0])
        self.aug = T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice")
        self.input_format = cfg.INPUT.FORMAT
        self.session = None

    def reset(self) -> None:
        self.session = VideoSession(self.model, self.model.tracker, self.model.inference)

    @torch.no_grad()
    def __call__(self, frame_bgr: np.ndarray) -> Dict:
        if self.session is None:
            self.reset()
        image = frame_bgr[:, :, ::-1] if self.input_format == "RGB" else frame_bgr
        height, width = image.shape[:2]
        resized = self.aug.get_transform(image).apply_image(image)
        tensor = torch.as_tensor(np.ascontiguousarray(resized.transpose(2, 0, 1)))
        return self.session.step({"image": tensor, "height": height, "width": width})
