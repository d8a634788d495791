"""Export a VPSNet's per-frame network (torch.export, ONNX) and check the export against eager on
frames it never saw (``tools/export_model.py``)."""
import os
import time
from typing import Dict, Iterable, List

import numpy as np
import torch

from ..utils.file_io import atomic_path, atomic_write_json
from .frame_network import OUTPUT_NAMES, FrameNetwork
from .runner import INPUT_NAMES, METADATA

__all__ = ["FORMATS", "example_inputs", "export_frame_network", "compare_sessions", "write_metadata"]

FORMATS = {"onnx": "model.onnx", "torch-export": "model.pt2"}


def gathered_shape(net: FrameNetwork):
    """(1, C, h, w) of the gathered map (the finest fused level) for the network's input size."""
    spec = net.vpsnet.backbone.output_shape()[net.vpsnet.fuse_features[0]]
    return (1, spec.channels, net.padded[0] // spec.stride, net.padded[1] // spec.stride)


def example_inputs(net: FrameNetwork, seed: int = 0):
    """Random inputs of the right shapes (export traces shapes, not values)."""
    g = torch.Generator().manual_seed(seed)
    shape = gathered_shape(net)
    image = torch.randint(0, 256, (1, 3, *net.image_size), generator=g).float()
    return (image, torch.randn(shape, generator=g), torch.randn((1, 2, *shape[-2:]), generator=g), torch.tensor([False]))


def export_frame_network(net: FrameNetwork, fmt: str, out_dir: str) -> str:
    """Write ``net`` as ``FORMATS[fmt]`` in ``out_dir`` (atomically); returns the path."""
    args = example_inputs(net)
    with torch.no_grad():
        program = torch.export.export(net, args, strict=False)
    path = os.path.join(out_dir, FORMATS[fmt])
    with atomic_path(path) as tmp:
        if fmt == "torch-export":
            torch.export.save(program, tmp)
        else:
            torch.onnx.export(program, args, tmp, dynamo=True, external_data=False, verbose=False,
                              input_names=INPUT_NAMES, output_names=OUTPUT_NAMES)
    return path


def write_metadata(net: FrameNetwork, cfg, out_dir: str) -> None:
    """``export.json``: what :class:`~vps_d2.export.runner.ExportedFrameModel` needs besides the graph."""
    m = net.vpsnet
    atomic_write_json(os.path.join(out_dir, METADATA), {
        "config": cfg.dump(),
        "image_size": list(net.image_size),
        "gathered_shape": list(gathered_shape(net)),
        "stride": m.sem_seg_head.common_stride,
        "fuse": m.fuse_head is not None,
        "track_on": bool(m.roi_heads.track_on),
        "stuff_channels": m.stuff_channels.tolist(),
        "thing_channels": m.thing_channels.tolist(),
    })


def _max_diff(got: List[torch.Tensor], want: List[torch.Tensor]) -> float:
    """Largest absolute difference over the graph outputs (inf if a size differs, e.g. K)."""
    if any(a.shape != b.shape for a, b in zip(got, want)):
        return float("inf")
    return max((float((a.double() - b.double()).abs().max()) for a, b in zip(got, want) if a.numel()), default=0.0)


def compare_sessions(eager, exported, net: FrameNetwork, frames: Iterable[np.ndarray]) -> Dict:
    """Run both predictors (eager ``VideoPanopticPredictor``, ``ExportedVideoPredictor``) on the
    same BGR frames, and the eager ``net`` on the graph's own inputs.

    Returns: frames, pixel agreement of the panoptic id maps (fraction), frames whose segments
    (id, category, track id) differ, the largest output difference of graph vs eager network, the
    detections per frame, and the seconds per frame of each side (the first frame excluded).
    """
    graph, diffs, checking = exported.exported.graph, [], [0.0]

    def both(*inputs):
        got = graph(*inputs)
        start = time.perf_counter()
        with torch.no_grad():
            diffs.append(_max_diff(got, list(net(*inputs))))
        checking[0] += time.perf_counter() - start  # not the exported side's time
        return got

    exported.exported.graph = both
    eager.reset()
    exported.reset()
    same = total = 0
    differing, detections, times = [], [], {"eager": [], "exported": []}
    try:
        for i, frame in enumerate(frames):
            outs = {}
            for side, predictor in (("eager", eager), ("exported", exported)):
                start, checking[0] = time.perf_counter(), 0.0
                outs[side] = predictor(frame)["panoptic_seg"]
                times[side].append(time.perf_counter() - start - checking[0])
            (ids_e, seg_e), (ids_x, seg_x) = outs["eager"], outs["exported"]
            same += int((ids_e == ids_x).sum())
            total += ids_e.numel()
            key = lambda segs: sorted((s["id"], s["category_id"], s["track_id"] or 0) for s in segs)  # noqa: E731
            if key(seg_e) != key(seg_x):
                differing.append(i)
            detections.append(sum(s["isthing"] for s in seg_x))
    finally:
        exported.exported.graph = graph
    per_frame = {k: float(np.mean(v[1:] if len(v) > 1 else v)) for k, v in times.items()}
    return {"frames": len(detections), "pixel_agreement": same / max(total, 1), "frames_with_other_segments": differing,
            "max_abs_diff": max(diffs, default=0.0), "things_per_frame": detections, "seconds_per_frame": per_frame}
