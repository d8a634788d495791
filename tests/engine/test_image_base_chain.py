"""The paper's chain (§V-D1, issue 23): a Base trained on single images of an image panoptic
dataset (INPUT.DATASET_MAPPER_NAME image_panoptic), then a video variant started from its weights
with the video mapper; the load report says which modules came from the image Base."""
import json
import os
import tempfile
import unittest

import torch

from vps_d2.data.datasets import register_image_view
from vps_d2.engine import VPSCheckpointer, VPSTrainer

from ..common import CONFIGS, get_config, load_script, registered_synthetic

IMAGE_BASES = ["COCO-Panoptic/vpsnet_base_R_50_FPN_3x_coco_panoptic.yaml",
               "Cityscapes-Panoptic/vpsnet_base_R_50_FPN_cityscapes_panoptic.yaml",
               "VIPER-VPS/vpsnet_base_R_50_FPN_12ep_viper_images.yaml"]
TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
SMALL_INPUT = ["INPUT.MIN_SIZE_TRAIN", "(64, 64)", "INPUT.CROP.SIZE", "(48, 96)", "DATALOADER.NUM_WORKERS", "0",
               "SOLVER.CHECKPOINT_PERIOD", "1000", "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()"]


def train(variant: str, train_set: str, out: str, iters: int, *opts) -> VPSTrainer:
    cfg = get_config(TINY)
    cfg.merge_from_list(load_script("benchmarks/ablation.py").variant_switches(variant))
    cfg.merge_from_list(SMALL_INPUT + ["DATASETS.TRAIN", f"('{train_set}',)", "SOLVER.MAX_ITER", str(iters),
                                       "OUTPUT_DIR", out, *opts])
    trainer = VPSTrainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return trainer


class TestImageBaseChain(unittest.TestCase):
    def test_image_base_then_fusetrack(self):
        with registered_synthetic("test_chain_train") as (videos, _), tempfile.TemporaryDirectory() as tmp:
            images = register_image_view(videos)
            base_dir, video_dir = os.path.join(tmp, "base"), os.path.join(tmp, "fusetrack")
            base = train("base", images, base_dir, 3, "INPUT.DATASET_MAPPER_NAME", "image_panoptic")
            batch = next(iter(base.data_loader))
            self.assertEqual({len(clip["frames"]) for clip in batch}, {1})  # single images, no reference
            losses = base.storage.latest()
            self.assertTrue(all(torch.isfinite(torch.tensor(losses[k][0])) for k in ("loss_cls", "loss_sem_seg", "loss_panoptic")))
            weights = os.path.join(base_dir, "model_final.pth")
            train("fusetrack", videos, video_dir, 1, "MODEL.WEIGHTS", weights)
            with open(os.path.join(video_dir, "weights_load_report.json")) as f:
                report = json.load(f)
            self.assertEqual(report["weights"], weights)
            self.assertEqual(set(report["initialised"]), {"fuse_head.align", "fuse_head.attend", "roi_heads.track_head"})
            self.assertEqual(report["unused"], {})
            self.assertEqual(sum(report["loaded"].values()), len(torch.load(weights, weights_only=False)["model"]))

    def test_image_base_configs_build(self):
        """Every image-Base config is consistent with its image dataset (class counts checked)."""
        for path in IMAGE_BASES:
            with self.subTest(config=path):
                cfg = get_config(os.path.join(CONFIGS, path))
                cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
                self.assertEqual(cfg.INPUT.DATASET_MAPPER_NAME, "image_panoptic")
                VPSTrainer.build_model(cfg)

    def test_coco_image_base_into_cityscapes_vps(self):
        """A COCO image Base (133 classes, 80 things) starts the 19-class VPSNet++ f: everything but
        the three class-sized predictors and the video heads comes from it (MODEL_ZOO.md)."""
        cfg = get_config(os.path.join(CONFIGS, IMAGE_BASES[0]))
        cfg.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
        with tempfile.TemporaryDirectory() as tmp:
            VPSCheckpointer(VPSTrainer.build_model(cfg), save_dir=tmp).save("coco_base")
            video = get_config(os.path.join(CONFIGS, "Cityscapes-VPS", "vpsnet_pp_f_R_50_FPN_144ep_cityscapes_vps.yaml"))
            video.merge_from_list(["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""])
            checkpointer = VPSCheckpointer(VPSTrainer.build_model(video))
            checkpointer.load(os.path.join(tmp, "coco_base.pth"))
        report = checkpointer.load_report
        self.assertEqual(report["initialised"], {
            "edge_head.convs": 6, "fuse_head.align": 10, "fuse_head.attend": 6, "roi_heads.track_head": 4,
            "roi_heads.box_predictor": 4, "roi_heads.mask_head": 2, "sem_seg_head.predictor": 2})
        self.assertEqual((sum(report["loaded"].values()), report["unused"]), (310, {}))

    def test_unknown_mapper(self):
        from vps_d2.engine.trainer import build_train_mapper
        from vps_d2.utils.errors import UserError

        cfg = get_config(TINY)
        cfg.INPUT.DATASET_MAPPER_NAME = "images"
        with self.assertRaisesRegex(UserError, "INPUT.DATASET_MAPPER_NAME: 'images' is not a training mapper"):
            build_train_mapper(cfg)


if __name__ == "__main__":
    unittest.main()
