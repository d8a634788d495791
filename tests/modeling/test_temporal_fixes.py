"""Issue 22's defects, each with a known answer that the code before the fix failed."""
import unittest

import torch

from vps_d2.layers.flow_warp import flow_warp_reference
from vps_d2.modeling.fuse import build_fuse_head
from vps_d2.modeling.fuse.align_attend import AlignModule
from vps_d2.modeling.meta_arch.video_inference import build_tracker
from vps_d2.tracking import AffinityWeights, Detections, VideoTracker

from ..common import get_config


def smooth_field(channels: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(1, channels, h // 4 + 1, w // 4 + 1, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=True)


class TestFlowRefinement(unittest.TestCase):
    def fuse(self, limit: float):
        cfg = get_config()
        cfg.MODEL.FUSE.FLOWNET_DIMS = [8, 8, 4]
        cfg.MODEL.FLOW.WARP_IMPL = "pytorch"
        cfg.MODEL.FUSE.FLOW_RESIDUAL_LIMIT = limit
        torch.manual_seed(0)
        return build_fuse_head(cfg, 4)

    def runaway_training(self, fuse, steps: int = 60):
        """A downstream loss that always pays for sampling further right (the reference's first
        channel is its x coordinate): what drove the unbounded refinement off the map."""
        f_t = torch.randn(1, 4, 16, 32)
        f_ref = torch.zeros(1, 4, 16, 32)
        f_ref[:, 0] = torch.linspace(0, 10, 32)
        flow = torch.zeros(1, 2, 16, 32)
        with torch.no_grad():
            fuse.attend.temporal.weight[0, 0, 1, 1, 1] = 1.0  # as after some training: the reference counts
        opt = torch.optim.SGD(fuse.parameters(), lr=0.5)
        for _ in range(steps):
            opt.zero_grad()
            (-fuse(f_t, f_ref, flow)[:, 0].mean()).backward()
            opt.step()
        with torch.no_grad():
            return (fuse.align.refine(f_t, f_ref, flow) - flow).abs().max().item()

    def test_residual_stays_within_its_bound_under_training(self):
        self.assertLessEqual(self.runaway_training(self.fuse(2.0)), 2.0)
        self.assertGreater(self.runaway_training(self.fuse(0.0)), 2.0)  # unbounded, as before the fix

    def test_flownet_learns_at_its_multiplier(self):
        f_t, f_ref, flow = smooth_field(4, 8, 8), smooth_field(4, 8, 8, seed=1), torch.zeros(1, 2, 8, 8)
        grads = []
        for scale in (1.0, 0.01):
            torch.manual_seed(0)
            align = AlignModule(4, [8, 4], warp=flow_warp_reference, residual_limit=2.0, grad_scale=scale)
            align(f_t, f_ref, flow)[0].sum().backward()
            grads.append(align.residual.weight.grad.abs().sum().item())
        self.assertGreater(grads[0], 0.0)
        self.assertAlmostEqual(grads[1] / grads[0], 0.01, places=6)
        self.assertEqual(get_config().MODEL.FUSE.FLOWNET_GRAD_SCALE, 0.01)

    def test_refinement_learns_a_known_shift(self):
        # the reference is the target moved right by one cell: the flow target->reference is +1 in x
        f_t = smooth_field(4, 16, 32)
        f_ref = torch.roll(f_t, shifts=1, dims=-1)
        align = AlignModule(4, [8, 8, 4], warp=flow_warp_reference, residual_limit=2.0)
        opt = torch.optim.Adam(align.parameters(), lr=0.02)
        flow = torch.zeros(1, 2, 16, 32)
        for _ in range(150):
            opt.zero_grad()
            warped, _ = align(f_t, f_ref, flow)
            (warped - f_t)[..., 2:-2].square().mean().backward()
            opt.step()
        with torch.no_grad():
            refined = align.refine(f_t, f_ref, flow)[0, :, 2:-2, 2:-2]
        self.assertLess((refined[0] - 1.0).abs().mean().item(), 0.2)  # from an error of 1 cell
        self.assertLess(refined[1].abs().mean().item(), 0.2)


class TestFreshFuseHead(unittest.TestCase):
    def test_identity_at_every_scale(self):
        cfg = get_config()
        cfg.MODEL.FLOW.WARP_IMPL = "pytorch"
        fuse = build_fuse_head(cfg, 16)
        for scale in (0.1, 1.0, 30.0):
            f_t, f_ref = torch.randn(2, 16, 8, 12) * scale, torch.randn(2, 16, 8, 12) * scale
            self.assertEqual(fuse(f_t, f_ref, torch.randn(2, 2, 8, 12)).abs().max().item(), 0.0)


def frame(embeds, boxes, h=20, w=60):
    masks = torch.zeros(len(boxes), h, w)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        masks[i, y0:y1, x0:x1] = 1
    return Detections(torch.tensor(embeds, dtype=torch.float32), torch.tensor(boxes, dtype=torch.float32),
                      torch.zeros(len(boxes), dtype=torch.long), torch.ones(len(boxes)), masks)


class TestTrackerFixes(unittest.TestCase):
    def test_cosine_reidentifies_where_the_dot_product_fails(self):
        # track 1 points along e1, track 2 along e2 with a large norm; the detection is track 1 seen
        # again (cosine 0.99 to it) but its dot product with track 2 is larger
        first = frame([[1.0, 0.0], [0.0, 12.0]], [(0, 0, 8, 8), (30, 0, 38, 8)])
        again = frame([[3.0, 0.4]], [(50, 10, 58, 18)])  # far from both: no IoU help
        appearance = AffinityWeights(appearance=1.0, mask_iou=0.0, same_class=0.0, log_score=0.0)
        ids = {}
        for metric in ("cosine", "dot"):
            tracker = VideoTracker(weights=appearance, metric=metric)
            tracker.update(first)
            ids[metric] = tracker.update(again)
        self.assertEqual(ids["cosine"], [1])
        self.assertEqual(ids["dot"], [2])

    def test_every_head_is_compared_by_cosine_by_default(self):
        for head in ("masktrack", "contrastive"):
            cfg = get_config()
            cfg.MODEL.TRACK_HEAD.NAME = head
            self.assertEqual(build_tracker(cfg, True).metric, "cosine")

    def test_a_hidden_objects_mask_follows_every_frames_flow(self):
        # the camera pans 3 px per frame; object 1 is hidden for 3 frames and returns 12 px on
        tracker = VideoTracker(weights=AffinityWeights(appearance=0.0, mask_iou=2.0, same_class=0.0, log_score=0.0),
                               memory_frames=8)
        pan = lambda masks: torch.roll(masks, shifts=3, dims=-1)  # noqa: E731  (previous -> current)
        tracker.update(frame([[1.0]], [(0, 0, 8, 8)]))
        for _ in range(3):
            tracker.update(frame([[1.0]], [(40, 10, 44, 14)]), pan)  # something else in view
        self.assertEqual(tracker.update(frame([[1.0]], [(12, 0, 20, 8)]), pan)[0], 1)

    def test_memory_covers_the_hard_splits_hidden_spans(self):
        self.assertGreaterEqual(build_tracker(get_config(), True).memory_frames, 6 + 1)


if __name__ == "__main__":
    unittest.main()
