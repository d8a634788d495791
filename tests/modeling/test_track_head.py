import math
import unittest

import torch

from detectron2.layers import ShapeSpec

from vps_d2.modeling.track_head import (
    TRACK_HEAD_REGISTRY,
    ContrastiveTrackHead,
    MaskTrackHead,
    build_track_head,
    contrastive_track_loss,
    masktrack_loss,
    track_labels,
)

from ..common import get_config

E = math.exp


def t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def refs_with_cosines(cosines):
    """Anchor e_0 and references r_j = c_j e_0 + sqrt(1 - c_j^2) e_j: cos(anchor, r_j) = c_j."""
    m = len(cosines)
    ref = torch.zeros(m, m + 1)
    for j, c in enumerate(cosines):
        ref[j, 0], ref[j, j + 1] = c, math.sqrt(1 - c * c)
    anchor = torch.zeros(1, m + 1)
    anchor[0, 0] = 3.0  # the norm does not matter for the cosine
    return anchor, ref


class TestTrackLabels(unittest.TestCase):
    def test_index_among_reference_ids_plus_one_or_zero_for_new(self):
        ids = torch.tensor([7, 3, 9, 3, 5])
        ref_ids = torch.tensor([3, 5, 7])
        self.assertEqual(track_labels(ids, ref_ids).tolist(), [3, 1, 0, 1, 2])

    def test_empty(self):
        self.assertEqual(
            track_labels(torch.tensor([4, 2]), torch.zeros(0, dtype=torch.int64)).tolist(), [0, 0]
        )
        self.assertEqual(
            track_labels(torch.zeros(0, dtype=torch.int64), torch.tensor([1])).shape, (0,)
        )
        self.assertEqual(track_labels(torch.tensor([4]), torch.tensor([1])).dtype, torch.int64)


class TestMaskTrackLoss(unittest.TestCase):
    def test_hand_example_with_a_new_object(self):
        ref = t([[1, 0], [0, 1]])  # r_1, r_2
        x = t([[2, 0], [1, 1]])
        y = torch.tensor([1, 0])  # anchor 0 is r_1, anchor 1 is new
        # anchor 0: logits [0 | 2, 0], CE = log(1 + e^2 + 1) - 2 = 0.239545
        # anchor 1: logits [0 | 1, 1], CE = log(1 + 2e) - 0 = 1.861995
        # mean = 1.050770
        loss = masktrack_loss([x], [ref], [y])
        self.assertAlmostEqual(loss.item(), 1.050770, places=5)
        self.assertAlmostEqual(
            loss.item(), (math.log(2 + E(2)) - 2 + math.log(1 + 2 * math.e)) / 2, places=6
        )

    def test_mean_over_anchors_of_all_images(self):
        ref_a, x_a, y_a = t([[1, 0], [0, 1]]), t([[2, 0], [1, 1]]), torch.tensor([1, 0])
        ref_b, x_b, y_b = t([[0, 1]]), t([[0, 1]]), torch.tensor([1])  # logits [0 | 1]
        loss = masktrack_loss([x_a, x_b], [ref_a, ref_b], [y_a, y_b])
        expected = (
            math.log(2 + E(2)) - 2 + math.log(1 + 2 * math.e) + math.log(1 + math.e) - 1
        ) / 3
        self.assertAlmostEqual(loss.item(), expected, places=6)

    def test_one_positive_still_trains(self):  # the original skipped it (facts §6.10)
        x = t([[1.0, 0.5]]).requires_grad_()
        loss = masktrack_loss([x], [t([[1, 0], [0, 1]])], [torch.tensor([2])])
        loss.backward()
        self.assertGreater(loss.item(), 0)
        self.assertGreater(x.grad.abs().sum().item(), 0)

    def test_no_anchor_is_a_zero_tensor_with_a_graph(self):
        x = torch.zeros(0, 2, requires_grad=True)
        ref = t([[1, 0]]).requires_grad_()
        loss = masktrack_loss([x], [ref], [torch.zeros(0, dtype=torch.int64)])
        self.assertIsInstance(loss, torch.Tensor)
        self.assertEqual(loss.item(), 0.0)
        self.assertIsNotNone(loss.grad_fn)


class TestContrastiveLoss(unittest.TestCase):
    # M = 2: r_1 = (1, 0), r_2 = (0, 1); anchor a = (2, 0) is r_1: cos(a, r_1) = 1, cos(a, r_2) = 0.
    # The other entries are r_0 (logit 0) and r_2 (logit 0); N_h = min(4, 2) = 2 takes both.
    ref = t([[1, 0], [0, 1]])

    def loss(self, x, y, **kw):
        return contrastive_track_loss([x], [self.ref], [torch.tensor(y)], **kw).item()

    def test_m2_uses_all_other_entries(self):
        # λ = 1, C = 1: log(e^1 + 1·(e^0 + e^0)) - 1 = log(e + 2) - 1 = 0.551445
        self.assertAlmostEqual(self.loss(t([[2, 0]]), [1], temperature=1.0), 0.551445, places=5)

    def test_temperature_and_c(self):
        # λ = 0.5: A = 1 / 0.5 = 2; log(e^2 + 2) - 2 = 0.239545 (sharper: smaller loss)
        self.assertAlmostEqual(
            self.loss(t([[2, 0]]), [1], temperature=0.5), math.log(E(2) + 2) - 2, places=5
        )
        # C = 2: log(e + 2·2) - 1 = 0.904832 (heavier negatives: larger loss)
        self.assertAlmostEqual(
            self.loss(t([[2, 0]]), [1], temperature=1.0, neg_weight=2.0), 0.904832, places=5
        )
        # C = 0: only the positive, loss 0
        self.assertAlmostEqual(
            self.loss(t([[2, 0]]), [1], temperature=1.0, neg_weight=0.0), 0.0, places=6
        )

    def test_new_object_anchor(self):
        # b = (1, 1) is new: target logit = constant 0; negatives r_1, r_2 with cos = 1/√2.
        # λ = 1: log(e^0 + 2 e^{0.707107}) - 0 = 1.620621
        self.assertAlmostEqual(self.loss(t([[1, 1]]), [0], temperature=1.0), 1.620621, places=5)
        # the zero vector is never normalised: a finite loss even for a zero anchor embedding
        self.assertTrue(math.isfinite(self.loss(t([[0, 0]]), [0], temperature=0.1)))

    def test_m6_takes_only_the_four_most_similar_other_entries(self):
        # cosines with r_1..r_6; the anchor is r_1 (0.9). Other entries: r_2..r_6 and r_0 (0):
        # 0.8, 0.5, -0.2, 0.3, -0.6, 0 -> top 4 = {0.8, 0.5, 0.3, r_0 = 0}.
        x, ref = refs_with_cosines([0.9, 0.8, 0.5, -0.2, 0.3, -0.6])
        loss = contrastive_track_loss([x], [ref], [torch.tensor([1])], temperature=1.0)
        # log(e^.9 + e^.8 + e^.5 + e^.3 + e^0) - .9 = 1.261450
        self.assertAlmostEqual(loss.item(), 1.261450, places=5)
        # all 6 others would give log(... + e^-.2 + e^-.6) - .9 = 1.407699: not what is computed
        all_six = contrastive_track_loss(
            [x], [ref], [torch.tensor([1])], temperature=1.0, num_hard_negatives=10
        )
        self.assertAlmostEqual(all_six.item(), 1.407699, places=5)

    def test_m6_r0_is_left_out_when_four_references_are_more_similar(self):
        x, ref = refs_with_cosines([0.9, 0.8, 0.5, 0.2, 0.3, -0.6])
        loss = contrastive_track_loss([x], [ref], [torch.tensor([1])], temperature=1.0)
        # top 4 of {0.8, 0.5, 0.2, 0.3, -0.6, 0} = {0.8, 0.5, 0.3, 0.2}:
        # log(e^.9 + e^.8 + e^.5 + e^.3 + e^.2) - .9
        self.assertAlmostEqual(
            loss.item(), math.log(E(0.9) + E(0.8) + E(0.5) + E(0.3) + E(0.2)) - 0.9, places=5
        )
        self.assertAlmostEqual(loss.item(), 1.286627, places=5)

    def test_m6_new_object(self):
        x, ref = refs_with_cosines([0.9, 0.8, 0.5, -0.2, 0.3, -0.6])
        loss = contrastive_track_loss([x], [ref], [torch.tensor([0])], temperature=1.0)
        # target r_0 (logit 0), others = the 6 references, top 4 = 0.9, 0.8, 0.5, 0.3
        self.assertAlmostEqual(
            loss.item(), math.log(1 + E(0.9) + E(0.8) + E(0.5) + E(0.3)), places=5
        )

    def test_one_positive_trains_both_frames(self):
        x = t([[1.0, 0.5]]).requires_grad_()
        ref = t([[1, 0], [0, 1]]).requires_grad_()
        loss = contrastive_track_loss([x], [ref], [torch.tensor([2])])
        loss.backward()
        self.assertGreater(x.grad.abs().sum().item(), 0)
        self.assertGreater(ref.grad.abs().sum().item(), 0)

    def test_no_reference_object_gives_zero(self):
        # M = 0: every anchor is new and has no negative: loss = -log(e^0 / e^0) = 0
        loss = contrastive_track_loss([t([[1, 2]])], [torch.zeros(0, 2)], [torch.tensor([0])])
        self.assertEqual(loss.item(), 0.0)

    def test_invalid_parameters(self):
        with self.assertRaises(ValueError):
            self.loss(t([[2, 0]]), [1], temperature=0.0)


class TestTrackHeads(unittest.TestCase):
    def cfg(self, name):
        cfg = get_config()
        cfg.MODEL.TRACK_HEAD.NAME = name
        cfg.MODEL.TRACK_HEAD.FC_DIM = 6
        cfg.MODEL.TRACK_HEAD.LOSS_WEIGHT = 0.5
        return cfg

    def test_registry_and_defaults(self):
        self.assertEqual({"masktrack", "contrastive"}, set(TRACK_HEAD_REGISTRY._obj_map))
        cfg = get_config()
        t_ = cfg.MODEL.TRACK_HEAD
        self.assertEqual(
            (t_.NAME, t_.FC_DIM, t_.NUM_FC, t_.TEMPERATURE, t_.NEG_WEIGHT, t_.NUM_HARD_NEGATIVES),
            ("masktrack", 1024, 2, 0.1, 1.0, 4),
        )
        self.assertTrue(cfg.MODEL.ROI_HEADS.CLASS_AGNOSTIC_NMS)
        cfg.MODEL.TRACK_HEAD.NAME = "nope"
        with self.assertRaisesRegex(ValueError, "MODEL.TRACK_HEAD.NAME: unknown track head 'nope'"):
            build_track_head(cfg, ShapeSpec(channels=2, height=3, width=3))

    def test_embedding_is_fc_relu_fc(self):
        head = build_track_head(self.cfg("masktrack"), ShapeSpec(channels=2, height=3, width=3))
        self.assertIsInstance(head, MaskTrackHead)
        kinds = [type(m).__name__ for m in head.layers]
        self.assertEqual(kinds, ["Linear", "ReLU", "Linear"])  # no final ReLU
        self.assertEqual((head.layers[0].in_features, head.layers[-1].out_features), (18, 6))
        out = head(torch.randn(4, 2, 3, 3))
        self.assertEqual(out.shape, (4, 6))
        self.assertTrue((out < 0).any())

    def test_losses_weighted_and_similarity(self):
        shape = ShapeSpec(channels=2, height=1, width=1)
        x, ref, y = [t([[2, 0]])], [t([[1, 0], [0, 1]])], [torch.tensor([1])]
        head = build_track_head(self.cfg("masktrack"), shape)
        self.assertEqual(head.metric, "dot")
        self.assertAlmostEqual(
            head.losses(x, ref, y)["loss_track"].item(), 0.5 * (math.log(2 + E(2)) - 2), places=5
        )
        self.assertTrue(torch.allclose(head.similarity(x[0], ref[0]), t([[2, 0]])))
        cfg = self.cfg("contrastive")
        cfg.MODEL.TRACK_HEAD.TEMPERATURE = 1.0
        head = build_track_head(cfg, shape)
        self.assertIsInstance(head, ContrastiveTrackHead)
        self.assertEqual(head.metric, "cosine")
        self.assertAlmostEqual(
            head.losses(x, ref, y)["loss_track"].item(), 0.5 * 0.551445, places=5
        )
        self.assertTrue(torch.allclose(head.similarity(x[0], ref[0]), t([[1, 0]])))

    def test_masktrack_loss_at_init_is_near_log_m_plus_1(self):
        # Pooled RoI features of an untrained trunk have norms of hundreds (here ~340 at the R50's
        # 256 x 7 x 7). The embedding-head docstring claims the loss then starts near log(M + 1),
        # the value of uniform logits over [new | M references]; with the old last-layer init
        # (std 0.01) it was 50 at these sizes.
        m = 8
        for channels, fc_dim in ((64, 128), (256, 1024)):
            with self.subTest(channels=channels, fc_dim=fc_dim):
                torch.manual_seed(0)
                head = MaskTrackHead(ShapeSpec(channels=channels, height=7, width=7), num_fc=2, fc_dim=fc_dim)
                x, ref = torch.randn(16, channels, 7, 7) * 3, torch.randn(m, channels, 7, 7) * 3
                loss = masktrack_loss([head(x)], [head(ref)], [torch.randint(0, m + 1, (16,))])
                self.assertAlmostEqual(loss.item(), math.log(m + 1), delta=0.3)

    def test_trunk_gradient_is_scaled_and_the_head_learns_in_full(self):
        shape = ShapeSpec(channels=2, height=3, width=3)
        x = torch.randn(5, 2, 3, 3)
        grads = {}
        for scale in (1.0, 0.1, 0.0):
            torch.manual_seed(0)
            head = MaskTrackHead(shape, num_fc=2, fc_dim=4, trunk_grad_scale=scale)
            xs = x.clone().requires_grad_(True)
            out = head(xs)
            (out ** 2).sum().backward()
            dx = torch.zeros_like(x) if xs.grad is None else xs.grad  # 0 detaches
            grads[scale] = (out.detach(), dx, head.layers[0].weight.grad)
        out1, dx1, dw1 = grads[1.0]
        for scale in (0.1, 0.0):
            out, dx, dw = grads[scale]
            self.assertTrue(torch.equal(out, out1))  # forward unchanged
            self.assertTrue(torch.allclose(dx, scale * dx1))  # trunk gets `scale` x the gradient
            self.assertTrue(torch.equal(dw, dw1))  # the head's own layers the full gradient
        self.assertGreater(dx1.abs().sum().item(), 0.0)
        self.assertEqual(get_config().MODEL.TRACK_HEAD.TRUNK_GRAD_SCALE, 0.1)

    def test_no_anchor_gives_a_graph_to_every_parameter(self):
        head = build_track_head(self.cfg("contrastive"), ShapeSpec(channels=2, height=3, width=3))
        emb = head(torch.zeros(0, 2, 3, 3))
        loss = head.losses([emb], [emb], [torch.zeros(0, dtype=torch.int64)])["loss_track"]
        loss.backward()
        self.assertEqual(loss.item(), 0.0)
        self.assertTrue(all(p.grad is not None for p in head.parameters()))


if __name__ == "__main__":
    unittest.main()
