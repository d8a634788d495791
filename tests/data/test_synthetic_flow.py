"""The generator's ground-truth flow (--flow): exact, deterministic, and the loader exposes it."""
import os
import shutil
import tempfile
import unittest

import numpy as np

from vps_d2.data.flow import chain_backward_flows, downscale_flow
from vps_d2.data.synthetic import build_video, flow_path, generator_stamp, split_state
from vps_d2.data.synthetic_scene import render_frame

from detectron2.data import DatasetCatalog

from vps_d2.data.dataset_mapper import VideoPanopticDatasetMapper

from ..common import SMALL, get_config, registered_synthetic, write_small_synthetic
from .test_synthetic import tree_digest


def warped_labels(previous: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = previous.shape
    ys, xs = np.mgrid[:h, :w]
    tx = np.clip(np.rint(xs + np.nan_to_num(flow[..., 0])).astype(int), 0, w - 1)
    ty = np.clip(np.rint(ys + np.nan_to_num(flow[..., 1])).astype(int), 0, h - 1)
    return previous[ty, tx]


class TestGroundTruthFlow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="vps_d2_flow_")
        write_small_synthetic(cls.root, "val", videos=2, difficulty="hard", flow=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def video(self, v):
        scene, rng, _ = build_video(SMALL["seed"], "val", v, SMALL["height"], SMALL["width"], SMALL["frames"],
                                    SMALL["stride"], "hard")
        labels = [render_frame(scene, t, rng)[1] for t in range(SMALL["frames"])]
        flows = [None] + [np.load(flow_path(self.root, "val", f"synthetic_{v:06d}_{f:06d}_leftImg8bit.png"))
                          for f in range(2, SMALL["frames"] + 1)]
        return labels, flows

    def test_format_and_first_frames(self):
        labels, flows = self.video(1)
        self.assertEqual((flows[1].dtype, flows[1].shape), (np.float32, (SMALL["height"], SMALL["width"], 2)))
        self.assertFalse(os.path.exists(flow_path(self.root, "val", "synthetic_000001_000001_leftImg8bit.png")))

    def test_previous_labels_warped_by_it_are_exact_and_chains_too(self):
        for v in (1, 2):
            labels, flows = self.video(v)
            for t in range(1, len(labels)):
                visible = np.isfinite(flows[t]).all(-1)
                self.assertGreater(visible.mean(), 0.8)
                self.assertTrue((warped_labels(labels[t - 1], flows[t]) == labels[t])[visible].all())
            chained = chain_backward_flows(flows[5:0:-1])  # frame 5 -> frame 0
            visible = np.isfinite(chained).all(-1)
            self.assertTrue((warped_labels(labels[0], chained) == labels[5])[visible].all())

    def test_same_seed_same_bytes_and_images_as_without_flow(self):
        other = tempfile.mkdtemp(prefix="vps_d2_flow_")
        plain = tempfile.mkdtemp(prefix="vps_d2_flow_")
        try:
            write_small_synthetic(other, "val", videos=2, difficulty="hard", flow=True)
            self.assertEqual(tree_digest(other), tree_digest(self.root))
            write_small_synthetic(plain, "val", videos=2, difficulty="hard")
            a, b = tree_digest(os.path.join(plain, "val")), tree_digest(os.path.join(self.root, "val"))
            self.assertEqual(a, {k: v for k, v in b.items() if not k.startswith("flow")})
        finally:
            shutil.rmtree(other, ignore_errors=True)
            shutil.rmtree(plain, ignore_errors=True)

    def test_a_split_with_flow_serves_a_request_without_but_not_the_reverse(self):
        args = dict(SMALL, videos=2, difficulty="hard")
        args.pop("seed")
        with_flow = generator_stamp("val", seed=SMALL["seed"], flow=True, **args)
        without = generator_stamp("val", seed=SMALL["seed"], **args)
        self.assertEqual(split_state(self.root, "val", with_flow)[0], "current")
        self.assertEqual(split_state(self.root, "val", without)[0], "current")
        plain = tempfile.mkdtemp(prefix="vps_d2_flow_")
        try:
            write_small_synthetic(plain, "val", videos=2, difficulty="hard")
            self.assertEqual(split_state(plain, "val", with_flow)[0], "stale")
        finally:
            shutil.rmtree(plain, ignore_errors=True)

    def test_downscaled_to_the_fuse_heads_map(self):
        flow = np.full((8, 12, 2), 8.0, np.float32)
        flow[:4, :4] = np.nan  # one cell unknown: 0
        small = downscale_flow(flow)
        self.assertEqual(small.shape, (2, 2, 3))
        self.assertEqual(small[0, 0, 0], 0.0)
        self.assertTrue(np.allclose(small[:, 1], 2.0))  # 8 px = 2 cells


class TestOracleFlow(unittest.TestCase):
    def test_loader_exposes_it_and_test_frames_carry_it_for_the_oracle(self):
        with registered_synthetic("test_flow_oracle", "val", videos=1, flow=True) as (name, root):
            video = DatasetCatalog.get(name)[0]
            self.assertIsNone(video["flow_file_names"][0])
            self.assertTrue(all(os.path.isfile(p) for p in video["flow_file_names"][1:]))
            cfg = get_config()
            cfg.DATASETS.TEST = (name,)
            cfg.MODEL.VPS.FUSE_ON = True
            cfg.INPUT.MIN_SIZE_TEST = SMALL["height"]
            cfg.MODEL.FLOW.NAME = "oracle"
            frames = VideoPanopticDatasetMapper(cfg, is_train=False)(video)["frames"]
            self.assertTrue(np.array_equal(frames[0]["flow"].numpy(), np.zeros((2, 16, 32))))
            expected = downscale_flow(np.load(video["flow_file_names"][3]))
            self.assertTrue(np.array_equal(frames[3]["flow"].numpy(), expected))
            cfg.MODEL.FLOW.NAME = "dis"
            self.assertNotIn("flow", VideoPanopticDatasetMapper(cfg, is_train=False)(video)["frames"][3])


if __name__ == "__main__":
    unittest.main()
