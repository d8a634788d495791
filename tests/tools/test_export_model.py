"""tools/export_model.py on the tiny config with random weights: the ONNX model (onnxruntime) and
the torch.export program give, through the online runner, eager's panoptic maps and ids on frames
they never saw, with a number of detections that changes from frame to frame."""
import contextlib
import io
import json
import os
import tempfile
import unittest

import torch

from vps_d2.export.runner import ExportedFrameModel
from vps_d2.utils.errors import UserError

from ..common import CONFIGS, load_script, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")


class TestExportModel(unittest.TestCase):
    def test_onnx_and_torch_export_agree_with_eager(self):
        tool = load_script("tools/export_model.py")
        with registered_synthetic("test_export_model", split="val", videos=1) as (name, root), \
                tempfile.TemporaryDirectory() as out:
            argv = ["--config-file", TINY, "--format", "onnx", "torch-export", "--output", out, "--frames", "4",
                    "DATASETS.TRAIN", f"('{name}',)", "DATASETS.TEST", f"('{name}',)",
                    "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.05"]  # random weights: keep some detections
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                self.assertEqual(tool.main(argv), 0, printed.getvalue())
            with open(os.path.join(out, "verification.json")) as f:
                report = json.load(f)
            for fmt in ("onnx", "torch-export"):
                r = report[fmt]
                self.assertEqual(r["frames"], 4)
                self.assertGreaterEqual(r["pixel_agreement"], 0.999)
                self.assertEqual(r["frames_with_other_segments"], [])
                self.assertLess(r["max_abs_diff"], 1e-3)
                self.assertGreater(len(set(r["things_per_frame"])), 1, "the detection count must follow the frame")
                self.assertIn(f"{fmt}: ", printed.getvalue())

            demo = load_script("demo/video_demo.py")  # the demo runs the exported model
            frames = os.path.join(root, "val", "img_all", "*.png")
            video = os.path.join(out, "demo.mp4")
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(demo.main(["--config-file", TINY, "--input", frames, "--output", video,
                                            "--exported", os.path.join(out, "model.onnx")]), 0)
            self.assertGreater(os.path.getsize(video), 0)

            model = ExportedFrameModel(os.path.join(out, "model.onnx"))
            frame = {"image": torch.zeros(3, 32, 64, dtype=torch.uint8), "height": 32, "width": 64}
            with self.assertRaisesRegex(UserError, "tools/export_model.py"):
                model.inference_step(frame)  # another input size than exported: one clear line

    def test_missing_config_is_one_line(self):
        tool = load_script("tools/export_model.py")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(tool.main(["--config-file", "nope.yaml", "--output", "x"]), 2)
        self.assertEqual(err.getvalue().strip(), "export_model.py: error: --config-file nope.yaml: no such file")


if __name__ == "__main__":
    unittest.main()
