"""Run an exported per-frame network online: the initial flow, the panoptic merge and the tracker in
Python around the graph (issue 23), with the eager model's code for each of them.

An export folder holds ``model.onnx`` and/or ``model.pt2`` and ``export.json`` (what the runner needs:
the config, the input size, the channel maps). :class:`ExportedVideoPredictor` has the interface of
:class:`vps_d2.engine.predictor.VideoPanopticPredictor`; ``demo/video_demo.py --exported FILE`` uses it.
"""
import json
import os
from typing import Callable, Dict, List, Optional

import torch
import torch.nn.functional as F
from detectron2.config import CfgNode
from detectron2.data import MetadataCatalog
from detectron2.data import transforms as T
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances

from ..engine.predictor import VideoPanopticPredictor
from ..modeling.flow import build_initial_flow
from ..modeling.meta_arch.video_inference import VideoSession, build_tracker, inference_options
from ..modeling.meta_arch.vpsnet import FrameState
from ..modeling.panoptic import panoptic_logits
from ..utils.errors import UserError
from .frame_network import OUTPUT_NAMES

__all__ = ["ExportedFrameModel", "ExportedVideoSession", "ExportedVideoPredictor", "METADATA", "load_graph"]

METADATA = "export.json"
INPUT_NAMES = ["image", "ref_gathered", "flow", "first"]


def load_graph(path: str) -> Callable[..., List[torch.Tensor]]:
    """A function running the exported graph at ``path`` (``.onnx`` in onnxruntime on the CPU,
    ``.pt2`` through ``torch.export.load``): 4 input tensors in, the 7 outputs as tensors out."""
    if not os.path.isfile(path):
        raise UserError(f"--exported {path}: no such file, expected a model.onnx or model.pt2 of tools/export_model.py")
    if path.endswith(".onnx"):
        import onnxruntime

        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        wanted = [i.name for i in session.get_inputs()]

        def run_onnx(*inputs):
            feed = {n: x.cpu().numpy() for n, x in zip(INPUT_NAMES, inputs) if n in wanted}
            return [torch.from_numpy(y) for y in session.run(OUTPUT_NAMES, feed)]

        return run_onnx
    if path.endswith(".pt2"):
        module = torch.export.load(path).module()

        def run_program(*inputs):
            with torch.no_grad():
                return list(module(*inputs))

        return run_program
    raise UserError(f"--exported {path}: expected a .onnx or .pt2 file of tools/export_model.py")


class ExportedFrameModel:
    """Stands in for a ``VPSNet`` in a :class:`VideoSession`: :meth:`inference_step` returns the
    eager model's per-frame outputs, computed by the exported graph."""

    def __init__(self, path: str):
        meta_path = os.path.join(os.path.dirname(os.path.abspath(path)), METADATA)
        if not os.path.isfile(meta_path):
            raise UserError(f"--exported {path}: no {METADATA} beside it, expected a folder written by tools/export_model.py")
        with open(meta_path) as f:
            meta = json.load(f)
        self.cfg = CfgNode.load_cfg(meta["config"])
        self.image_size = tuple(meta["image_size"])
        self.gathered_shape = tuple(meta["gathered_shape"])
        self.stride = meta["stride"]
        self.track_on = meta["track_on"]
        self.stuff_channels = torch.tensor(meta["stuff_channels"], dtype=torch.long)
        self.thing_channels = torch.tensor(meta["thing_channels"], dtype=torch.long)
        self.initial_flow = build_initial_flow(self.cfg) if meta["fuse"] else None
        self.graph = load_graph(path)

    def inference_step(self, frame: Dict, state: Optional[FrameState] = None):
        """As :meth:`VPSNet.inference_step` (same outputs and state)."""
        image = frame["image"]
        if tuple(image.shape[-2:]) != self.image_size:
            raise UserError(
                f"the exported model takes {self.image_size[0]}x{self.image_size[1]} model inputs, this frame "
                f"resizes to {image.shape[-2]}x{image.shape[-1]}; export again with tools/export_model.py "
                "--input <a clip of this size>"
            )
        ref = state if state is not None else FrameState(image, torch.zeros(self.gathered_shape))
        flow = None
        size = self.gathered_shape[-2:]
        if self.initial_flow is not None:
            f = self.initial_flow([image], [ref.image])[0]
            flow = F.pad(f, (0, size[1] - f.shape[-1], 0, size[0] - f.shape[-2]))[None]
        first = torch.tensor([state is None])
        inputs = (image[None].float(), ref.gathered, flow if flow is not None else torch.zeros(1, 2, *size), first)
        gathered, boxes, scores, classes, mask_logits, embeds, sem_logits = self.graph(*inputs)
        instances = Instances(self.image_size, pred_boxes=Boxes(boxes), scores=scores, pred_classes=classes)
        if self.track_on:
            instances.pred_embeds = embeds
        pan_logits, pasted = panoptic_logits(
            sem_logits[0], self.stuff_channels, self.thing_channels[classes], boxes, mask_logits, stride=self.stride
        )
        instances.mask_logits = mask_logits
        input_boxes = boxes.clone()  # detector_postprocess scales the boxes in place
        outputs = {
            "instances": detector_postprocess(instances, frame["height"], frame["width"]),
            "sem_seg_logits": sem_logits[0],
            "panoptic_logits": pan_logits,
            "pasted_mask_logits": pasted,
            "input_boxes": input_boxes,
            "image_size": self.image_size,
            "stride": self.stride,
            "flow": flow,
        }
        return outputs, FrameState(image, gathered)


class ExportedVideoSession(VideoSession):
    """A :class:`VideoSession` (merge and tracker as in eager) over an :class:`ExportedFrameModel`."""

    def __init__(self, model: ExportedFrameModel):
        cfg = model.cfg
        super().__init__(model, build_tracker(cfg, cfg.MODEL.VPS.TRACK_ON), inference_options(cfg))


class ExportedVideoPredictor(VideoPanopticPredictor):
    """``VideoPanopticPredictor`` whose network is an exported graph; the model's config is the one
    saved with the export (flow source, tracker, merge options, dataset metadata)."""

    def __init__(self, path: str):
        self.exported = ExportedFrameModel(path)
        self.cfg = cfg = self.exported.cfg
        self.metadata = MetadataCatalog.get(cfg.DATASETS.TEST[0])
        self.aug = T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice")
        self.input_format = cfg.INPUT.FORMAT
        self.session = None

    def reset(self) -> None:
        self.session = ExportedVideoSession(self.exported)
