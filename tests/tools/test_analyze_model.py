"""tools/analyze_model.py: vps_d2's fvcore handles count the flow warp, roi_align and max pooling
(fvcore counts them as 0), checked against a hand count; the tool runs on the tiny config."""
import contextlib
import io
import os
import re
import unittest

import torch
import torch.nn.functional as F
from fvcore.nn import FlopCountAnalysis
from torch import nn
from torchvision.ops import roi_align

from vps_d2.layers.flow_warp import cpu_kernel_available, flow_warp
from vps_d2.utils.flop_handles import CUSTOM_OP_HANDLES

from ..common import CONFIGS, load_script, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 2, 1, bias=False)

    def forward(self, x, flow, rois):
        warped = flow_warp(x, flow, impl="cpu")
        return (self.conv(warped), F.adaptive_max_pool2d(warped, (3, 3)), F.max_pool2d(x, 2),
                roi_align(x, rois, (2, 2), 1.0, sampling_ratio=2, aligned=True))


class TestFlopHandles(unittest.TestCase):
    @unittest.skipIf(not cpu_kernel_available(), "vps_d2._C is not built")
    def test_hand_count(self):
        x, flow = torch.randn(1, 4, 8, 8), torch.randn(1, 2, 8, 8)
        rois = torch.tensor([[0, 0, 0, 4, 4], [0, 1, 1, 7, 5], [0, 2, 0, 8, 8]], dtype=torch.float32)
        analysis = FlopCountAnalysis(Small(), (x, flow, rois)).set_op_handle(**CUSTOM_OP_HANDLES)
        expected = {
            "conv": 2 * 8 * 8 * 4,  # output elements x input channels (1x1 kernel)
            "PythonOp._FlowWarpFunction": 4 * 8 * 8 * 4,  # a bilinear sample (4) per output element
            "adaptive_max_pool2d": 4 * 3 * 3 * 3 * 3,  # 36 outputs x a window of ceil(8/3)^2
            "max_pool2d": 4 * 4 * 4 * 2 * 2,  # 64 outputs x a 2x2 window
            "roi_align": 3 * 4 * 2 * 2 * (2 * 2) * 4,  # 48 outputs x 2x2 samples x 4
        }
        self.assertEqual(dict(analysis.by_operator()), expected)
        self.assertEqual(analysis.total(), 2884)


class TestAnalyzeModel(unittest.TestCase):
    def test_tiny_config_per_frame_figures(self):
        tool = load_script("tools/analyze_model.py")
        with registered_synthetic("test_analyze_model", split="val", videos=1) as (name, _):
            printed = io.StringIO()
            argv = ["--config-file", TINY, "--tasks", "flop", "parameter", "activation", "structure",
                    "DATASETS.TRAIN", f"('{name}',)", "DATASETS.TEST", f"('{name}',)"]
            with contextlib.redirect_stdout(printed):
                self.assertEqual(tool.main(argv), 0)
        text = printed.getvalue()
        self.assertIn(f"from {name} (first video)", text)
        self.assertIn("vpsnet.fuse_head", text)  # the online frame is fused with the cached one
        shares = dict(re.findall(r"(flow warp|roi_align|max pooling) ([0-9.]+) \(", text))
        self.assertEqual(set(shares), {"flow warp", "roi_align", "max pooling"})
        self.assertTrue(all(float(v) > 0 for v in shares.values()), shares)
        self.assertRegex(text, r"per-frame GFLOPs: [1-9]")
        self.assertIn("per-frame activations:", text)
        self.assertIn("VPSNet(", text)  # structure

    def test_bad_task_is_an_argparse_error(self):
        tool = load_script("tools/analyze_model.py")
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
            tool.main(["--config-file", TINY, "--tasks", "MODEL.WEIGHTS", "x"])


if __name__ == "__main__":
    unittest.main()
