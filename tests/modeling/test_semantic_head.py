import math
import unittest

import torch
import torch.nn.functional as F
from detectron2.config import get_cfg
from detectron2.layers import ShapeSpec
from detectron2.modeling import build_sem_seg_head

from vps_d2.config import add_vps_config
from vps_d2.modeling.panoptic import UPSNetSemanticHead


def _cfg(**overrides):
    cfg = get_cfg()
    add_vps_config(cfg)
    cfg.MODEL.SEM_SEG_HEAD.CONVS_DIM = 32  # GN(32) needs multiples of 32
    cfg.MODEL.SEM_SEG_HEAD.NUM_CLASSES = 5
    for k, v in overrides.items():
        setattr(cfg.MODEL.SEM_SEG_HEAD, k, v)
    return cfg


SHAPES = {f"p{i}": ShapeSpec(channels=64, stride=2 ** i) for i in range(2, 7)}


def _features(n, height, width):
    # FPN sizes of a height x width input: each level is ceil(size / stride) (P2 = 1/4)
    return {f"p{i}": torch.randn(n, 64, math.ceil(height / 2 ** i), math.ceil(width / 2 ** i)) for i in range(2, 7)}


class TestUPSNetSemanticHead(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.head = build_sem_seg_head(_cfg(), SHAPES)

    def test_registered_and_configured(self):
        self.assertIsInstance(self.head, UPSNetSemanticHead)
        self.assertEqual(self.head.in_features, ["p2", "p3", "p4", "p5"])
        self.assertEqual(self.head.embed_dim, 4 * 32)
        # the stack is shared: 3 convs (in->in, in->D, D->D), each with GN; then one 1x1 classifier
        self.assertEqual(len(self.head.shared), 3)
        self.assertEqual([c.weight.shape[:2] for c in self.head.shared],
                         [(64, 64), (32, 64), (32, 32)])
        self.assertTrue(all(isinstance(c.norm, torch.nn.GroupNorm) for c in self.head.shared))
        cfg = get_cfg()
        add_vps_config(cfg)
        self.assertEqual(cfg.MODEL.SEM_SEG_HEAD.NAME, "UPSNetSemanticHead")
        self.assertEqual(cfg.MODEL.PANOPTIC.LOSS_WEIGHT, 1.0)
        self.assertEqual(cfg.MODEL.EDGE_HEAD.CONV_DIM, 16)
        self.assertEqual(cfg.MODEL.TUBE_LOSS.TEMPERATURE, 0.1)

    def test_odd_sizes(self):
        # a 99 x 131 input: P2 25x33, P3 13x17, P4 7x9, P5 4x5; everything comes out at P2's size
        logits, emb = self.head(_features(2, 99, 131))
        self.assertEqual(tuple(logits.shape), (2, 5, 25, 33))
        self.assertEqual(tuple(emb.shape), (2, 128, 25, 33))

    def test_loss_finite_and_gradients_reach_every_parameter(self):
        feats = _features(2, 64, 96)
        logits, emb = self.head(feats)
        targets = torch.randint(0, 5, (2, 64, 96))
        loss = self.head.losses(logits, targets)["loss_sem_seg"]
        self.assertTrue(torch.isfinite(loss))
        # near-uniform start (classifier init std 0.01): close to ln 5
        self.assertAlmostEqual(loss.item(), math.log(5), delta=0.3)
        loss.backward()
        for name, p in self.head.named_parameters():
            self.assertIsNotNone(p.grad, name)
            self.assertGreater(p.grad.abs().sum().item(), 0, name)

    def test_losses_ignore_255_and_weight(self):
        logits = torch.randn(1, 5, 4, 6, requires_grad=True)
        targets = torch.randint(0, 5, (1, 16, 24))
        targets[:, :8] = 255
        up = F.interpolate(logits, size=(16, 24), mode="bilinear", align_corners=False)
        # reference: CE over the bottom half only (the top half is ignored)
        expected = F.cross_entropy(up[:, :, 8:], targets[:, 8:])
        head = build_sem_seg_head(_cfg(LOSS_WEIGHT=0.5), SHAPES)
        got = head.losses(logits, targets)["loss_sem_seg"]
        self.assertAlmostEqual(got.item(), 0.5 * expected.item(), places=5)
        # all ignored: zero, with a graph
        zero = head.losses(logits, torch.full((1, 16, 24), 255))["loss_sem_seg"]
        self.assertEqual(zero.item(), 0.0)
        zero.backward()
        self.assertTrue(torch.equal(logits.grad, torch.zeros_like(logits)))

    def test_mismatched_level_channels_rejected(self):
        shapes = dict(SHAPES, p5=ShapeSpec(channels=32, stride=32))
        with self.assertRaises(ValueError):
            build_sem_seg_head(_cfg(), shapes)


if __name__ == "__main__":
    unittest.main()
