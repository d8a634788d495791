"""The whole model on the CPU: every config builds, every variant trains one step with exactly
its loss terms (SPEC §9 "Loss terms per variant"), gradients reach every head, inference runs."""
import glob
import os
import unittest

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.utils.events import EventStorage

from vps_d2.data import VideoPanopticDatasetMapper

from ..common import CONFIGS, get_config, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
IMAGE_LOSSES = {"loss_rpn_cls", "loss_rpn_loc", "loss_cls", "loss_box_reg", "loss_mask", "loss_sem_seg", "loss_panoptic"}
EXPECTED = {  # variant -> extra losses on top of the image-level ones
    "base": set(), "align": set(), "attend": set(), "fuse": set(),
    "track": {"loss_track"}, "fusetrack": {"loss_track"},
    "pp_a": {"loss_track"}, "pp_b": {"loss_track"}, "pp_c": {"loss_track", "loss_edge"},
    "pp_d": {"loss_track", "loss_tube"}, "pp_e": {"loss_track", "loss_tube"},
    "pp_f": {"loss_track", "loss_edge", "loss_tube"},
}


def variant_config(variant, name):
    """The tiny CPU model with the switches of the synthetic config of ``variant``."""
    cfg = get_config(TINY)
    variant_cfg = get_config(os.path.join(CONFIGS, "Synthetic-VPS", f"vpsnet_{variant}_R_50_FPN_3k_synthetic_vps.yaml"))
    cfg.MODEL.VPS = variant_cfg.MODEL.VPS
    cfg.MODEL.FUSE.BIDIRECTIONAL = variant_cfg.MODEL.FUSE.BIDIRECTIONAL
    cfg.MODEL.FUSE.ALIGN_ON = variant_cfg.MODEL.FUSE.ALIGN_ON
    cfg.MODEL.FUSE.ATTEND_ON = variant_cfg.MODEL.FUSE.ATTEND_ON
    cfg.MODEL.TRACK_HEAD.NAME = variant_cfg.MODEL.TRACK_HEAD.NAME
    cfg.DATASETS.TRAIN = cfg.DATASETS.TEST = (name,)
    return cfg


class TestModelE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._ctx = registered_synthetic("test_e2e_vps", height=128, width=256, videos=2)
        cls.name, _ = cls._ctx.__enter__()
        cls.videos = DatasetCatalog.get(cls.name)

    @classmethod
    def tearDownClass(cls):
        cls._ctx.__exit__(None, None, None)

    def batch(self, cfg, seed=0):
        np.random.seed(seed)
        mapper = VideoPanopticDatasetMapper(cfg, is_train=True)
        return [mapper(v) for v in self.videos]

    def test_every_config_file_builds_its_model(self):
        files = sorted(glob.glob(os.path.join(CONFIGS, "**", "*.yaml"), recursive=True))
        for path in files:
            if os.path.basename(path).startswith("Base-"):
                continue
            with self.subTest(config=os.path.relpath(path, CONFIGS)):
                cfg = get_config(path)
                # a small trunk keeps this fast; the heads are the configured ones
                cfg.MODEL.RESNETS.DEPTH, cfg.MODEL.RESNETS.RES2_OUT_CHANNELS, cfg.MODEL.DEVICE = 18, 64, "cpu"
                model = build_model(cfg)
                self.assertEqual(type(model).__name__, "VPSNet")
                self.assertEqual(model.fuse_head is not None, cfg.MODEL.VPS.FUSE_ON)
                self.assertEqual(model.roi_heads.track_on, cfg.MODEL.VPS.TRACK_ON)
                self.assertEqual(model.edge_head is not None, cfg.MODEL.VPS.EDGE_ON)

    def test_each_variant_trains_with_exactly_its_losses(self):
        for variant, extra in EXPECTED.items():
            with self.subTest(variant=variant):
                torch.manual_seed(0)
                cfg = variant_config(variant, self.name)
                model = build_model(cfg)
                model.train()
                with EventStorage():
                    losses = model(self.batch(cfg))
                self.assertEqual(set(losses), IMAGE_LOSSES | extra)
                for k, v in losses.items():
                    self.assertTrue(torch.isfinite(v), f"{k} = {v}")
                sum(losses.values()).backward()
                heads = {"sem_seg_head": model.sem_seg_head, "roi_heads.box_head": model.roi_heads.box_head,
                         "roi_heads.mask_head": model.roi_heads.mask_head, "proposal_generator": model.proposal_generator,
                         "backbone": model.backbone}
                if model.fuse_head is not None:
                    heads["fuse_head.attend"] = model.fuse_head.attend
                if model.roi_heads.track_on:
                    heads["roi_heads.track_head"] = model.roi_heads.track_head
                if model.edge_head is not None:
                    heads["edge_head"] = model.edge_head
                for name, head in heads.items():
                    got = sum(p.grad.abs().sum().item() for p in head.parameters() if p.grad is not None)
                    self.assertGreater(got, 0, f"no gradient reaches {name} in {variant}")

    def test_fuse_output_zeroed_is_the_image_model(self):
        torch.manual_seed(0)
        cfg = variant_config("fusetrack", self.name)
        model = build_model(cfg).eval()
        image_cfg = variant_config("track", self.name)
        image_model = build_model(image_cfg).eval()
        image_model.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("fuse_head")})
        with torch.no_grad():
            model.fuse_head.attend.temporal.weight.zero_()
            model.fuse_head.attend.temporal.bias.zero_()
        frame = VideoPanopticDatasetMapper(cfg, is_train=False)(self.videos[0])["frames"][4]
        out, _ = model.inference_step(frame)
        ref, _ = image_model.inference_step(frame)
        self.assertTrue(torch.allclose(out["sem_seg_logits"], ref["sem_seg_logits"], atol=1e-5))
        self.assertTrue(torch.allclose(out["panoptic_logits"][:11], ref["panoptic_logits"][:11], atol=1e-5))

    def test_reference_frame_and_flow_change_the_fused_features(self):
        torch.manual_seed(0)
        cfg = variant_config("fusetrack", self.name)
        model = build_model(cfg).eval()
        frames = VideoPanopticDatasetMapper(cfg, is_train=False)(self.videos[0])["frames"]
        _, state_a = model.inference_step(frames[0])
        _, state_b = model.inference_step(frames[8])
        out_a, _ = model.inference_step(frames[9], state_a)
        out_b, _ = model.inference_step(frames[9], state_b)
        # a fresh fuse head is the identity: the image-level model, whatever the reference
        self.assertTrue(torch.equal(out_a["sem_seg_logits"], out_b["sem_seg_logits"]))
        self.assertTrue(torch.equal(out_a["instances"].pred_boxes.tensor, out_b["instances"].pred_boxes.tensor))
        with torch.no_grad():  # as after training: the temporal conv has moved away from zero
            torch.nn.init.normal_(model.fuse_head.attend.temporal.weight, std=0.05)
        out_a, _ = model.inference_step(frames[9], state_a)
        out_b, _ = model.inference_step(frames[9], state_b)
        self.assertFalse(torch.allclose(out_a["sem_seg_logits"], out_b["sem_seg_logits"]))
        # the same reference with another flow also changes the result
        feats = model._pyramid(model.preprocess_image([frames[9]["image"]]))[1]
        flow = torch.zeros(1, 2, *feats.shape[-2:])
        g0 = model.fuse_head(feats, state_a.gathered, flow)
        g1 = model.fuse_head(feats, state_a.gathered, flow + 3.0)
        self.assertFalse(torch.allclose(g0, g1))


if __name__ == "__main__":
    unittest.main()
