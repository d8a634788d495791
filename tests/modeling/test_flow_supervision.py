"""Optional ground-truth supervision of the fuse head's refined flow (MODEL.FUSE.FLOW_LOSS_WEIGHT,
issue 22). Known answers: the ground-truth flow through the pair's augmentations still maps the
previous frame's labels onto this frame's; the flow loss alone teaches the flownet a known shift at
full speed although the downstream losses reach it at FLOWNET_GRAD_SCALE; the training batch of a
flow split carries the target and the model adds loss_flow."""
import unittest

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.data import transforms as T
from detectron2.utils.events import EventStorage

from vps_d2.data.dataset_mapper import VideoPanopticDatasetMapper, transform_flow
from vps_d2.engine import VPSTrainer
from vps_d2.layers.flow_warp import flow_warp_reference
from vps_d2.modeling.fuse import flow_epe_loss
from vps_d2.modeling.fuse.align_attend import AlignModule
from vps_d2.utils.errors import UserError

from ..common import CONFIGS, get_config, load_script, registered_synthetic
from ..data.test_synthetic_flow import warped_labels
from .test_temporal_fixes import smooth_field

TINY = f"{CONFIGS}/quick_schedules/tiny_vpsnet_pp_cpu.yaml"


def fusetrack_config(train: str, weight: float = 1.0):
    cfg = get_config(TINY)
    cfg.merge_from_list(load_script("benchmarks/ablation.py").variant_switches("fusetrack"))
    cfg.merge_from_list(["DATASETS.TRAIN", f"('{train}',)", "DATASETS.TEST", "()", "MODEL.FUSE.FLOW_LOSS_WEIGHT", str(weight),
                         "INPUT.MIN_SIZE_TRAIN", "(64, 64)", "INPUT.CROP.SIZE", "(48, 96)"])
    return cfg


class TestFlowTarget(unittest.TestCase):
    def test_augmented_flow_still_maps_the_previous_labels(self):
        with registered_synthetic("test_flow_aug", "val", videos=1, flow=True) as (name, _):
            from vps_d2.data.synthetic import build_video
            from vps_d2.data.synthetic_scene import render_frame
            from ..common import SMALL

            scene, rng, _ = build_video(SMALL["seed"], "val", 1, SMALL["height"], SMALL["width"], SMALL["frames"],
                                        SMALL["stride"], "clean")
            labels = [render_frame(scene, t, rng)[1] for t in range(4)]
            flow = np.load(DatasetCatalog.get(name)[0]["flow_file_names"][3])
            transforms = T.TransformList([T.ResizeTransform(64, 128, 96, 192), T.CropTransform(20, 10, 150, 80),
                                          T.HFlipTransform(150)])
            moved = transform_flow(flow, transforms)
            prev = transforms.apply_segmentation(labels[2].astype(np.uint8))
            this = transforms.apply_segmentation(labels[3].astype(np.uint8))
            visible = np.isfinite(moved).all(-1)
            self.assertGreater(visible.mean(), 0.7)
            self.assertGreater((warped_labels(prev, moved) == this)[visible].mean(), 0.97)
            flipped_wrong = moved * np.array([-1, 1], np.float32)  # without the mirrored dx
            self.assertLess((warped_labels(prev, flipped_wrong) == this)[visible].mean(),
                            (warped_labels(prev, moved) == this)[visible].mean())

    def test_training_pairs_carry_it_and_a_split_without_flow_is_refused(self):
        with registered_synthetic("test_flow_pairs", "train", flow=True) as (name, _):
            mapper = VideoPanopticDatasetMapper(fusetrack_config(name), is_train=True)
            pair = mapper(DatasetCatalog.get(name)[0])
            for frame in pair["frames"]:
                target = frame["fuse_gt_flow"]
                self.assertEqual(tuple(target.shape), (2, 12, 24))  # the 48x96 crop at 1/4
                self.assertGreater(torch.isfinite(target).float().mean().item(), 0.7)
            model = VPSTrainer.build_model(fusetrack_config(name))
            with EventStorage():
                losses = model.losses([pair, mapper(DatasetCatalog.get(name)[1])])
            self.assertIn("loss_flow", losses)
            self.assertTrue(torch.isfinite(losses["loss_flow"]))
        with registered_synthetic("test_flow_none", "train") as (name, _):
            mapper = VideoPanopticDatasetMapper(fusetrack_config(name), is_train=True)
            with self.assertRaisesRegex(UserError, "FLOW_LOSS_WEIGHT > 0: frame .* has no ground-truth flow"):
                for video in DatasetCatalog.get(name):
                    for _ in range(4):
                        mapper(video)
            off = VideoPanopticDatasetMapper(fusetrack_config(name, weight=0.0), is_train=True)
            self.assertNotIn("fuse_gt_flow", off(DatasetCatalog.get(name)[0])["frames"][0])

    def test_needs_gap_one(self):
        with registered_synthetic("test_flow_gap", "train", videos=1) as (name, _):
            cfg = fusetrack_config(name)
            cfg.INPUT.VIDEO.FUSE_GAP = 2
            with self.assertRaisesRegex(UserError, "expected INPUT.VIDEO.FUSE_GAP 1"):
                VideoPanopticDatasetMapper(cfg, is_train=True)


class TestFlowLoss(unittest.TestCase):
    def test_epe_over_known_cells(self):
        refined = torch.zeros(1, 2, 2, 2)
        target = torch.tensor([3.0, 4.0]).view(1, 2, 1, 1).repeat(1, 1, 2, 2)
        target[0, :, 0, 0] = float("nan")
        self.assertAlmostEqual(flow_epe_loss(refined, target).item(), 5.0)
        self.assertEqual(flow_epe_loss(refined, torch.full_like(target, float("nan"))).item(), 0.0)

    def test_flow_loss_teaches_a_known_shift_at_full_speed(self):
        f_t = smooth_field(4, 16, 32)
        f_ref = torch.roll(f_t, shifts=1, dims=-1)
        target = torch.zeros(1, 2, 16, 32)
        target[:, 0] = 1.0
        grads = []
        for scale in (1.0, 0.01):
            torch.manual_seed(0)
            align = AlignModule(4, [8, 8, 4], warp=flow_warp_reference, residual_limit=2.0, grad_scale=scale)
            flow_epe_loss(align(f_t, f_ref, torch.zeros(1, 2, 16, 32))[1], target).backward()
            grads.append(align.residual.weight.grad.clone())
        self.assertTrue(torch.allclose(grads[0], grads[1]))  # the flow loss is not damped
        opt = torch.optim.Adam(align.parameters(), lr=0.02)
        for _ in range(100):
            opt.zero_grad()
            flow_epe_loss(align(f_t, f_ref, torch.zeros(1, 2, 16, 32))[1], target).backward()
            opt.step()
        with torch.no_grad():
            refined = align.refine(f_t, f_ref, torch.zeros(1, 2, 16, 32))
        self.assertLess(flow_epe_loss(refined, target).item(), 0.1)  # from 1 cell


if __name__ == "__main__":
    unittest.main()
