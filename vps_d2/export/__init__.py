"""Export of the per-frame network (torch.export, ONNX) and the runner that tracks around it."""
from .frame_network import FrameNetwork  # noqa: F401
from .runner import ExportedFrameModel, ExportedVideoPredictor, ExportedVideoSession  # noqa: F401
