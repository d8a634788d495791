"""The paper's training protocol (§V-D1): a video variant imports the Base model's parameters and
initialises only its new heads; the load says which modules came from Base and which did not."""
import json
import os
import tempfile
import unittest

import torch
from detectron2.utils.env import seed_all_rng

from vps_d2.engine import VPSCheckpointer, VPSTrainer

from ..common import CONFIGS, get_config, load_script, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
FUSETRACK_HEADS = {"fuse_head.align", "fuse_head.attend", "roi_heads.track_head"}


def variant_config(variant: str):
    cfg = get_config(TINY)
    cfg.merge_from_list(load_script("benchmarks/ablation.py").variant_switches(variant))
    return cfg


def build(variant: str, seed: int):
    seed_all_rng(seed)
    return VPSTrainer.build_model(variant_config(variant))


class TestBaseInitialisation(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.base = build("base", seed=0)
        VPSCheckpointer(cls.base, save_dir=cls.tmp.name).save("base")
        cls.base_path = os.path.join(cls.tmp.name, "base.pth")

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_fusetrack_takes_every_shared_module_from_base_and_initialises_its_new_heads(self):
        model = build("fusetrack", seed=1)
        checkpointer = VPSCheckpointer(model)
        with self.assertLogs("fvcore.common.checkpoint", "INFO") as logs:
            checkpointer.load(self.base_path)
        report = checkpointer.load_report
        self.assertEqual(set(report["initialised"]), FUSETRACK_HEADS)
        self.assertEqual(set(report["loaded"]) & FUSETRACK_HEADS, set())
        self.assertIn("backbone.bottom_up", report["loaded"])
        self.assertEqual(report["unused"], {})
        self.assertEqual(sum(report["loaded"].values()), len(self.base.state_dict()))
        line = [m for m in logs.output if "initialised here" in m][0]
        self.assertIn(f"weights from {self.base_path}: {len(self.base.state_dict())} tensors loaded", line)
        self.assertIn("fuse_head.align (", line)
        self.assertIn("roi_heads.track_head (", line)
        # Known answer: the shared weights are Base's, the new heads keep their own initialisation.
        base, variant = self.base.state_dict(), model.state_dict()
        for key in ("backbone.bottom_up.stem.conv1.weight", "roi_heads.box_predictor.cls_score.weight"):
            self.assertTrue(torch.equal(variant[key], base[key]), key)
        fresh = build("fusetrack", seed=1).state_dict()
        new = [k for k in variant if k.startswith(("fuse_head.", "roi_heads.track_head."))]
        self.assertTrue(new and all(torch.equal(variant[k], fresh[k]) for k in new))

    def test_loading_a_variant_into_base_reports_its_heads_as_unused(self):
        variant = build("fusetrack", seed=2)
        with tempfile.TemporaryDirectory() as tmp:
            VPSCheckpointer(variant, save_dir=tmp).save("fusetrack")
            checkpointer = VPSCheckpointer(build("base", seed=3))
            checkpointer.load(os.path.join(tmp, "fusetrack.pth"))
        self.assertEqual(set(checkpointer.load_report["unused"]), FUSETRACK_HEADS)
        self.assertEqual(checkpointer.load_report["initialised"], {})

    def test_training_from_base_writes_the_report_to_the_output_dir(self):
        with registered_synthetic("test_base_init_vps", videos=2) as (name, _), tempfile.TemporaryDirectory() as tmp:
            cfg = variant_config("fuse")
            cfg.DATASETS.TRAIN = (name,)
            cfg.DATALOADER.NUM_WORKERS = 0
            cfg.MODEL.WEIGHTS, cfg.OUTPUT_DIR = self.base_path, tmp
            VPSTrainer(cfg).resume_or_load(resume=False)
            with open(os.path.join(tmp, "weights_load_report.json")) as f:
                report = json.load(f)
        self.assertEqual(report["weights"], self.base_path)
        self.assertEqual(set(report["initialised"]), {"fuse_head.align", "fuse_head.attend"})


if __name__ == "__main__":
    unittest.main()
