import math
import unittest

import torch

from vps_d2.layers.flow_warp import flow_warp_reference
from vps_d2.modeling.fuse import build_fuse_head
from vps_d2.modeling.fuse.align_attend import AlignModule, AttendModule

from ..common import get_config


def identity_attend(channels: int, attend: bool = True) -> AttendModule:
    """ε = identity (centre tap 1) and a temporal conv that outputs the weighted reference only."""
    m = AttendModule(channels, attend)
    with torch.no_grad():
        if attend:
            m.embed.weight.zero_()
            m.embed.bias.zero_()
            for c in range(channels):
                m.embed.weight[c, c, 1, 1] = 1.0
        m.temporal.weight.zero_()
        m.temporal.bias.zero_()
        for c in range(channels):
            m.temporal.weight[c, c, 1, 1, 1] = 1.0  # time index 1 = the (weighted) reference
    return m


class TestAttend(unittest.TestCase):
    def test_eq2_on_a_small_example(self):
        m = identity_attend(2)
        f_t = torch.tensor([1.0, 2.0]).view(1, 2, 1, 1)
        f_ref = torch.tensor([3.0, -1.0]).view(1, 2, 1, 1)
        # cos = (1·3 + 2·(−1)) / (√5·√10) = 1/√50; tAtt = σ(5·cos − 2.5) at init; g = tAtt · f_ref
        att = m.attention(f_t, f_ref)
        self.assertAlmostEqual(att.item(), 1 / (1 + math.exp(-(5 / math.sqrt(50) - 2.5))), places=6)
        g = m(f_t, f_ref)
        self.assertTrue(torch.allclose(g.flatten(), torch.tensor([3.0, -1.0]) * att.item(), atol=1e-6))

    def test_temporal_conv_mixes_both_frames(self):
        m = identity_attend(1)
        with torch.no_grad():
            m.temporal.weight[0, 0, 0, 1, 1] = 2.0  # time index 0 = the target
        f_t, f_ref = torch.full((1, 1, 1, 1), 0.5), torch.zeros(1, 1, 1, 1)
        # a zero reference contributes nothing whatever its weight: g = 2·0.5 = 1
        self.assertAlmostEqual(m(f_t, f_ref).item(), 1.0, places=6)

    def test_gate_at_init_is_neither_constant_nor_saturated(self):
        # Real-scale inputs: FPN-like features (std ~ 20) of two neighbouring frames (the reference
        # is the target plus a perturbation) through a freshly initialised module, C = 64.
        # Eq. 2's raw inner product would be |x| ~ 100s here: σ = 1 everywhere, no gradient.
        torch.manual_seed(0)
        m = AttendModule(64)
        f_t = torch.randn(2, 64, 24, 48) * 20
        noise = torch.nn.functional.interpolate(torch.rand(2, 1, 3, 6), scale_factor=8.0)  # 8x8 blocks
        f_ref = f_t + torch.randn_like(f_t) * 20 * noise
        att = m.attention(f_t, f_ref)
        self.assertGreater(att.min().item(), 0.05)  # not saturated anywhere: σ' > 0.05
        self.assertLess(att.max().item(), 0.95)
        # already at init the gate is lower where the reference differs more from the target
        low, high = att[noise < 0.2].mean(), att[noise > 0.8].mean()
        self.assertGreater(low.item(), high.item() + 0.03)
        att.mean().backward()
        self.assertGreater(float(m.embed.weight.grad.abs().sum()), 0.0)  # the gate can learn
        raw = (m.embed(f_t) * m.embed(f_ref)).sum(1)
        self.assertGreater(float(raw.std()), 50.0)  # what Eq. 2 as written would put inside σ

    def test_attend_off_uses_weight_one(self):
        m = identity_attend(2, attend=False)
        f_ref = torch.randn(1, 2, 3, 3)
        self.assertTrue(torch.allclose(m(torch.randn(1, 2, 3, 3), f_ref), f_ref, atol=1e-6))


class TestAlign(unittest.TestCase):
    def test_zero_refinement_is_warping_by_the_initial_flow(self):
        torch.manual_seed(0)
        align = AlignModule(4, [8, 8, 4], warp=flow_warp_reference)
        f_t, f_ref = torch.randn(2, 4, 6, 7), torch.randn(2, 4, 6, 7)
        flow = torch.randn(2, 2, 6, 7) * 2
        warped, refined = align(f_t, f_ref, flow)
        self.assertTrue(torch.equal(refined, flow))  # the residual conv starts at zero
        self.assertTrue(torch.allclose(warped, flow_warp_reference(f_ref, flow), atol=1e-6))
        with torch.no_grad():
            align.residual.bias.fill_(1.0)  # a learned residual of (1, 1) pixel
        warped, refined = align(f_t, f_ref, flow)
        self.assertTrue(torch.allclose(refined, flow + 1.0))
        self.assertTrue(torch.allclose(warped, flow_warp_reference(f_ref, flow + 1.0), atol=1e-6))

    def test_flownet_input_is_514_channels_for_256(self):
        align = AlignModule(256, [64, 64, 32], warp=flow_warp_reference)
        convs = [m for m in align.flownet if isinstance(m, torch.nn.Conv2d)]
        self.assertEqual([(c.in_channels, c.out_channels) for c in convs], [(514, 64), (64, 64), (64, 32), (32, 2)])
        self.assertTrue(all(c.kernel_size == (3, 3) for c in convs))


class TestAlignAttendFuse(unittest.TestCase):
    def test_built_from_config_and_gradients_reach_every_part(self):
        cfg = get_config()
        cfg.MODEL.FUSE.FLOWNET_DIMS = [8, 8, 4]
        cfg.MODEL.FLOW.WARP_IMPL = "pytorch"
        fuse = build_fuse_head(cfg, 4)
        f_t, f_ref = torch.randn(1, 4, 5, 6), torch.randn(1, 4, 5, 6)
        target = torch.randn(1, 4, 5, 6)
        g = fuse(f_t, f_ref, torch.randn(1, 2, 5, 6))
        self.assertEqual(g.shape, f_t.shape)
        self.assertEqual(float(g.abs().max()), 0.0)  # a fresh head is the identity (g_t = 0)
        (g * target).sum().backward()
        grads = {name: p.grad for name, p in fuse.named_parameters()}
        # at zero the temporal conv learns first; what lies before it gets gradients once it has moved
        for name, grad in grads.items():
            self.assertIsNotNone(grad, name)
            moved = name.startswith("attend.temporal.")
            self.assertEqual(grad.abs().sum().item() > 0, moved, name)
        with torch.no_grad():
            fuse.attend.temporal.weight.normal_(std=0.1)
        fuse.zero_grad()
        (fuse(f_t, f_ref, torch.randn(1, 2, 5, 6)) * target).sum().backward()
        grads = {name: p.grad for name, p in fuse.named_parameters()}
        hidden = [n for n in grads if n.startswith("align.flownet.") and not n.startswith("align.flownet.6")]
        for name, grad in grads.items():
            if name not in hidden:
                self.assertGreater(grad.abs().sum().item(), 0, name)
        # the residual conv starts at zero, so the hidden flownet layers learn once it has moved
        self.assertTrue(all(grads[n].abs().sum() == 0 for n in hidden))
        with torch.no_grad():
            fuse.align.residual.weight.normal_(std=0.01)
        fuse.zero_grad()
        (fuse(f_t, f_ref, torch.randn(1, 2, 5, 6)) * target).sum().backward()
        for name in hidden:
            self.assertGreater(dict(fuse.named_parameters())[name].grad.abs().sum().item(), 0, name)

    def test_switches_remove_modules(self):
        cfg = get_config()
        cfg.MODEL.FUSE.ALIGN_ON, cfg.MODEL.FUSE.ATTEND_ON = False, False
        cfg.MODEL.FLOW.WARP_IMPL = "pytorch"
        fuse = build_fuse_head(cfg, 4)
        self.assertIsNone(fuse.align)
        self.assertIsNone(fuse.attend.embed)


if __name__ == "__main__":
    unittest.main()
