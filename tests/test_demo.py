"""demo/video_demo.py on an mp4, a frame folder and a glob; bad inputs give one line and exit 2."""
import contextlib
import glob
import io
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import cv2
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from .common import CONFIGS, REPO, get_config, load_script, write_small_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
SCRIPT = os.path.join(REPO, "demo", "video_demo.py")


class TestVideoDemo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vps_d2_demo_")
        write_small_synthetic(cls.tmp, "val", videos=1, frames=6)
        cls.frames = sorted(glob.glob(os.path.join(cls.tmp, "val", "img_all", "*.png")))
        cls.clip = os.path.join(cls.tmp, "clip.mp4")
        first = cv2.imread(cls.frames[0])
        writer = cv2.VideoWriter(cls.clip, cv2.VideoWriter_fourcc(*"mp4v"), 12.0, (first.shape[1], first.shape[0]))
        for f in cls.frames:
            writer.write(cv2.imread(f))
        writer.release()
        torch.manual_seed(0)
        cls.weights = os.path.join(cls.tmp, "tiny.pth")
        DetectionCheckpointer(build_model(get_config(TINY)), save_dir=cls.tmp).save("tiny")
        cls.demo = load_script("demo/video_demo.py")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_demo(self, *args):
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = self.demo.main(["--config-file", TINY, *args])
        return code, err.getvalue()

    def test_mp4_to_mp4_at_the_source_rate_with_panoptic_files(self):
        out = os.path.join(self.tmp, "out.mp4")
        pan = os.path.join(self.tmp, "pan")
        proc = subprocess.run([sys.executable, SCRIPT, "--config-file", TINY, "--input", self.clip, "--output", out,
                               "--save-panoptic", pan, "--opts", "MODEL.WEIGHTS", self.weights],
                              capture_output=True, text=True, cwd=REPO)
        self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
        self.assertIn("6 frames at 12 fps", proc.stdout)
        cap = cv2.VideoCapture(out)
        self.assertEqual(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 6)
        self.assertAlmostEqual(cap.get(cv2.CAP_PROP_FPS), 12.0)
        ok, frame = cap.read()
        cap.release()
        self.assertTrue(ok)
        self.assertEqual(frame.shape, (64, 128, 3))
        self.assertEqual(len(glob.glob(os.path.join(pan, "*.png"))), 6)
        self.assertEqual(len(glob.glob(os.path.join(pan, "*.json"))), 6)

    def test_frame_folder_and_glob(self):
        folder = os.path.join(self.tmp, "from_folder")
        code, err = self.run_demo("--input", os.path.dirname(self.frames[0]), "--output", folder,
                                  "--opts", "MODEL.WEIGHTS", self.weights)
        self.assertEqual(code, 0, err)
        self.assertEqual(len(os.listdir(folder)), 6)
        out = os.path.join(self.tmp, "from_glob.mp4")
        code, err = self.run_demo("--input", os.path.join(os.path.dirname(self.frames[0]), "*_00000[1-3]_leftImg8bit.png"),
                                  "--output", out, "--fps", "5", "--opts", "MODEL.WEIGHTS", self.weights)
        self.assertEqual(code, 0, err)
        cap = cv2.VideoCapture(out)
        self.assertEqual((int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), cap.get(cv2.CAP_PROP_FPS)), (3, 5.0))
        cap.release()

    def assert_one_line_error(self, args, expected):
        before = set(os.listdir(self.tmp))
        code, err = self.run_demo(*args)
        self.assertEqual(code, 2)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertRegex(err, expected)
        self.assertNotIn("Traceback", err)
        self.assertEqual(set(os.listdir(self.tmp)), before, "partial output left behind")

    def test_bad_inputs(self):
        out = os.path.join(self.tmp, "bad.mp4")
        self.assert_one_line_error(["--input", os.path.join(self.tmp, "missing.mp4"), "--output", out],
                                   "--input .*missing.mp4: no such file or folder")
        broken = os.path.join(self.tmp, "broken.mp4")
        with open(broken, "w") as f:
            f.write("not a video")
        try:
            self.assert_one_line_error(["--input", broken, "--output", out], "broken.mp4: cannot decode it as a video")
        finally:
            os.remove(broken)
        self.assert_one_line_error(["--input", self.clip, "--output", os.path.join(self.clip, "x.mp4"),
                                    "--opts", "MODEL.WEIGHTS", self.weights], "clip.mp4")
        self.assert_one_line_error(["--input", self.clip, "--output", out, "--opts", "MODEL.WEIGHTS",
                                    os.path.join(self.tmp, "nope.pth")], "MODEL.WEIGHTS .*nope.pth: no such file")

    def test_weights_of_another_config(self):
        other = get_config(TINY)
        other.MODEL.FPN.OUT_CHANNELS = 32
        torch.manual_seed(0)
        DetectionCheckpointer(build_model(other), save_dir=self.tmp).save("other")
        path = os.path.join(self.tmp, "other.pth")
        try:
            self.assert_one_line_error(["--input", self.clip, "--output", os.path.join(self.tmp, "o.mp4"),
                                        "--opts", "MODEL.WEIGHTS", path],
                                       r"other.pth: parameter '.*' has shape .* in the checkpoint but .* in the configured model")
        finally:
            os.remove(path)


if __name__ == "__main__":
    unittest.main()
