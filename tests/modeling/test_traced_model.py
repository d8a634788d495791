"""Nothing silently wrong under tracing (issue 23): no traced value turns into a constant, the
track head saves, and a flow computed outside torch is an error that names the export tool."""
import io
import os
import unittest

import torch
import torch.nn.functional as F
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import Boxes

from vps_d2.data import VideoPanopticDatasetMapper
from vps_d2.layers import scale_gradient
from vps_d2.modeling.balanced_fpn import max_pool_to
from vps_d2.utils.errors import UserError

from ..common import CONFIGS, get_config, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")


class TestTracedModel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._ctx = registered_synthetic("test_traced_model", height=64, width=128, videos=1)
        name, _ = cls._ctx.__enter__()
        cls.cfg = get_config(TINY)
        cls.cfg.DATASETS.TRAIN = cls.cfg.DATASETS.TEST = (name,)
        torch.manual_seed(0)
        cls.model = build_model(cls.cfg).eval().requires_grad_(False)  # traced functions hold them as constants
        cls.frames = VideoPanopticDatasetMapper(cls.cfg, is_train=False)(DatasetCatalog.get(name)[0])["frames"]

    @classmethod
    def tearDownClass(cls):
        cls._ctx.__exit__(None, None, None)

    def step(self, model, seen=None):
        def run(image):
            out, _ = model.inference_step({"image": image, "height": image.shape[1], "width": image.shape[2]})
            if seen is not None:
                seen.append(out["stride"])
            return out["sem_seg_logits"]

        return run

    def test_tracing_with_an_untraceable_flow_names_the_export_tool(self):
        self.assertEqual(self.cfg.MODEL.FLOW.NAME, "dis")
        with self.assertRaisesRegex(UserError, "tools/export_model.py"):
            torch.jit.trace(self.step(self.model), (self.frames[0]["image"],), check_trace=False)
        self.model.inference_step(self.frames[0])  # eager inference is unaffected

    def test_stride_stays_a_number_under_tracing(self):
        cfg = self.cfg.clone()
        cfg.MODEL.FLOW.NAME = "zero"
        model = build_model(cfg).eval().requires_grad_(False)
        seen = []
        traced = torch.jit.trace(self.step(model, seen), (self.frames[0]["image"],), check_trace=False)
        self.assertEqual(seen, [4])
        self.assertIs(type(seen[0]), int)
        other = self.frames[1]["image"]  # a frame the trace never saw
        torch.testing.assert_close(traced(other), self.step(model)(other))

    def test_track_head_saves_after_tracing_in_eval(self):
        head = self.model.roi_heads.track_head
        self.assertNotEqual(head.trunk_grad_scale, 1.0)  # the config scales the trunk's gradient
        x = torch.randn(3, 64, 7, 7, requires_grad=True)
        traced = torch.jit.trace(head, (x,))  # grad enabled, eval mode: no Python autograd op
        torch.jit.save(traced, io.BytesIO())
        with torch.no_grad():
            self.assertIs(scale_gradient(x, 0.1), x)

    def test_detection_count_is_not_fixed_at_trace_time(self):
        heads = self.model.roi_heads
        features = {f: torch.randn(1, 64, 64 // s, 128 // s) for f, s in zip(["p2", "p3", "p4", "p5"], [4, 8, 16, 32])}

        def logits(boxes, classes):
            return heads.mask_logits(features, [Boxes(boxes)], [classes])[0]

        boxes = torch.tensor([[0.0, 0, 20, 20], [10, 10, 60, 40], [30, 5, 120, 60], [1, 2, 3, 4], [50, 20, 90, 63]])
        classes = torch.tensor([0, 1, 2, 3, 4])
        traced = torch.jit.trace(logits, (boxes[:3], classes[:3]), check_trace=False)
        self.assertEqual(traced(boxes, classes).shape[0], 5)
        torch.testing.assert_close(traced(boxes, classes), logits(boxes, classes))

    def test_max_pool_to_is_adaptive_max_pooling(self):
        f = torch.randn(2, 3, 16, 24)
        for size in [(4, 6), (8, 3), (5, 7)]:  # divisible (max_pool2d) and not (the fallback)
            torch.testing.assert_close(max_pool_to(f, size), F.adaptive_max_pool2d(f, size))


if __name__ == "__main__":
    unittest.main()
