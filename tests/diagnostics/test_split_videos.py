"""``diagnose_temporal.py --root``: a prepared split read back as scenario videos, checked against
its own files, and the diagnostics run on it."""
import contextlib
import io
import json
import os
import tempfile
import unittest

import numpy as np
from PIL import Image

from vps_d2.data.datasets.cityscapes_vps import split_paths
from vps_d2.data.panoptic_io import read_panoptic_png
from vps_d2.data.synthetic import flow_path, label_to_segments
from vps_d2.diagnostics import temporal
from vps_d2.diagnostics.split_videos import load_split_videos
from vps_d2.utils.errors import UserError

from ..common import CONFIGS, load_script, write_small_synthetic


class TestLoadSplitVideos(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory()
        cls.root = os.path.join(cls._tmp.name, "synthetic_vps_hard")
        write_small_synthetic(cls.root, "test", videos=2, difficulty="hard", flow=True)
        cls.videos = load_split_videos(cls.root, "test")

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def test_matches_the_files_on_disk(self):
        paths = split_paths(self.root, "test")
        with open(paths["panoptic_json"]) as f:
            annotations = json.load(f)["annotations"]
        self.assertEqual(len(self.videos), 2)
        first = self.videos[0]
        self.assertEqual(len(first.images), 10)
        # the annotated frames' labels are the panoptic PNGs'
        for t, ann in zip(first.annotated(), annotations[:2]):
            on_disk = read_panoptic_png(os.path.join(paths["panoptic_root"], ann["file_name"]))
            np.testing.assert_array_equal(label_to_segments(first.labels[t])[0], on_disk)
        name = "synthetic_000001_000002_leftImg8bit.png"
        np.testing.assert_array_equal(first.flows[1], np.load(flow_path(self.root, "test", name)))
        self.assertIsNone(first.flows[0])

    def test_clean_renderings_differ_exactly_on_degraded_frames(self):
        for video in self.videos:
            for image, clean, effects in zip(video.images, video.clean, video.effects):
                self.assertEqual(not np.array_equal(image, clean), bool(effects))
        self.assertTrue(any(any(v.effects) for v in self.videos))

    def test_ground_truth_flow_warps_labels_exactly(self):
        self.assertGreaterEqual(temporal.warp_diagnostics(self.videos)["gt_flow_label_accuracy"], 0.97)

    def test_an_edited_frame_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "edited")
            write_small_synthetic(root, "test", videos=1, difficulty="hard", flow=True)
            path = os.path.join(split_paths(root, "test")["image_root"], "synthetic_000001_000003_leftImg8bit.png")
            image = np.asarray(Image.open(path)).copy()
            image[0, 0] ^= 1
            Image.fromarray(image).save(path)
            with self.assertRaisesRegex(UserError, "synthetic_000001_000003.*differs from the generator"):
                load_split_videos(root, "test")

    def test_a_split_without_flow_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            write_small_synthetic(tmp, "test", videos=1)
            with self.assertRaisesRegex(UserError, "without ground-truth flow.*--flow"):
                load_split_videos(tmp, "test")

    def test_the_script_on_the_split(self):
        script = load_script("benchmarks/diagnose_temporal.py")
        out = os.path.join(self._tmp.name, "diag.json")
        config = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            rc = script.main(["--config-file", config, "--json", out, "--root", self.root, "--videos", "1"])
        self.assertEqual(rc, 0)
        with open(out) as f:
            report = json.load(f)
        self.assertEqual(report["videos"], 1)
        self.assertGreaterEqual(report["warp"]["gt_flow_label_accuracy"], 0.97)
        self.assertEqual(set(report["tracking_oracle"]), {"synthetic_vps_hard_test"})
        self.assertIn("gate", report["fuse"])

    def test_the_script_names_a_bad_root(self):
        script = load_script("benchmarks/diagnose_temporal.py")
        config = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            rc = script.main(["--config-file", config, "--json", os.path.join(self._tmp.name, "x.json"),
                              "--root", os.path.join(self._tmp.name, "nowhere")])
        self.assertEqual(rc, 2)
        self.assertIn("does not exist", err.getvalue())


if __name__ == "__main__":
    unittest.main()
