import unittest

import torch

from vps_d2.modeling.panoptic import (
    EDGE_NO_THING_LOGIT,
    OUTSIDE_BOX_LOGIT,
    EdgeHead,
    dice_loss,
    edge_input,
    edge_target,
    panoptic_logits,
)


class TestEdgeTarget(unittest.TestCase):
    def test_known_id_map(self):
        # a 2x2 segment (id 2) inside id 1: a pixel is an edge pixel when one of its 4 neighbours has
        # another id. All four 2s touch a 1; the ring pixels next to the square are edges; the four
        # corners only touch 1s; the image border is not an edge (replicate padding).
        ids = torch.tensor([[1, 1, 1, 1], [1, 2, 2, 1], [1, 2, 2, 1], [1, 1, 1, 1]])
        expected = torch.tensor([[0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 1, 0]]).float()
        self.assertTrue(torch.equal(edge_target(ids), expected))

    def test_no_cancellation_and_void(self):
        # ids 1 | 2 | 3: a plain Laplacian at the middle is (2 - 1) + (2 - 3) = 0; ours flags it.
        self.assertTrue(torch.equal(edge_target(torch.tensor([[1, 2, 3]])), torch.ones(1, 3)))
        # a uniform map has no edge; void (-1) is a segment of its own; large ids are exact
        self.assertEqual(edge_target(torch.full((3, 5), 7)).sum().item(), 0)
        self.assertTrue(torch.equal(edge_target(torch.tensor([[-1, -1, 0]])), torch.tensor([[0.0, 1.0, 1.0]])))
        big = 2 ** 40
        self.assertTrue(torch.equal(edge_target(torch.tensor([[big, big + 1]])), torch.ones(1, 2)))


class TestDice(unittest.TestCase):
    def test_values(self):
        t = torch.tensor([1.0, 0.0, 1.0, 0.0])
        self.assertAlmostEqual(dice_loss(t.clone(), t).item(), 0.0, places=6)  # perfect
        # disjoint: 1 - eps / (1 + 1 + eps) ~ 1
        self.assertAlmostEqual(dice_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])).item(), 1.0, places=5)
        # p = [1, .5, 0, 0], t = [1, 1, 0, 0]: sum pt = 1.5, sum p^2 = 1.25, sum t^2 = 2
        # -> 1 - 3 / 3.25 = 1 / 13
        p = torch.tensor([[1.0, 0.5], [0.0, 0.0]])
        self.assertAlmostEqual(dice_loss(p, torch.tensor([[1.0, 1.0], [0.0, 0.0]])).item(), 1 / 13, places=6)
        # nothing predicted, nothing to find: 0
        self.assertAlmostEqual(dice_loss(torch.zeros(3), torch.zeros(3)).item(), 0.0, places=6)


class TestEdgeInput(unittest.TestCase):
    def test_channel_layout(self):
        # C = 4 semantic channels, stuff = channels [2, 0], things = channels [1, 3]
        sem = torch.arange(4 * 2 * 3, dtype=torch.float32).view(4, 2, 3)
        sem[3, 0, 0] = -100.0  # thing channel 3 loses to channel 1 at (0, 0) only
        stuff, things = torch.tensor([2, 0]), torch.tensor([1, 3])
        pasted = torch.tensor([
            [[5.0, OUTSIDE_BOX_LOGIT, OUTSIDE_BOX_LOGIT], [-20.0, OUTSIDE_BOX_LOGIT, OUTSIDE_BOX_LOGIT]],
            [[1.0, 2.0, OUTSIDE_BOX_LOGIT], [OUTSIDE_BOX_LOGIT, OUTSIDE_BOX_LOGIT, OUTSIDE_BOX_LOGIT]],
        ])
        x = edge_input(sem, stuff, things, pasted)
        self.assertEqual(tuple(x.shape), (4, 2, 3))  # S + 2
        self.assertTrue(torch.equal(x[0], sem[2]))
        self.assertTrue(torch.equal(x[1], sem[0]))
        # max over instances, clamped at -10 (no instance there / a very negative logit)
        L = EDGE_NO_THING_LOGIT
        self.assertTrue(torch.equal(x[2], torch.tensor([[5.0, 2.0, L], [L, L, L]])))
        best = sem[3].clone()
        best[0, 0] = sem[1, 0, 0]
        self.assertTrue(torch.equal(x[3], best))
        # K = 0: the mask channel is the low constant everywhere
        x0 = edge_input(sem, stuff, things, torch.zeros(0, 2, 3))
        self.assertTrue(torch.equal(x0[2], torch.full((2, 3), L)))
        self.assertTrue(torch.equal(x0[3], best))

    def test_from_panoptic_logits(self):
        sem = torch.zeros(3, 4, 4)
        _, pasted = panoptic_logits(sem, torch.tensor([0]), torch.tensor([1]), torch.tensor([[0.0, 0.0, 2.0, 2.0]]),
                                    torch.full((1, 28, 28), 3.0), stride=1)
        x = edge_input(sem, torch.tensor([0]), torch.tensor([1, 2]), pasted)
        expected = torch.full((4, 4), EDGE_NO_THING_LOGIT)
        expected[:2, :2] = 3.0
        self.assertTrue(torch.equal(x[1], expected))


class TestEdgeHead(unittest.TestCase):
    def test_shape_range_and_gradients(self):
        torch.manual_seed(0)
        head = EdgeHead(5, conv_dim=16)
        convs = [m for m in head.convs if isinstance(m, torch.nn.Conv2d)]
        self.assertEqual([(c.in_channels, c.out_channels, c.kernel_size) for c in convs],
                         [(5, 16, (3, 3)), (16, 16, (3, 3)), (16, 1, (3, 3))])
        x = torch.randn(2, 5, 7, 9)
        prob = head(x)
        self.assertEqual(tuple(prob.shape), (2, 1, 7, 9))
        self.assertTrue(((prob > 0) & (prob < 1)).all())
        target = edge_target(torch.randint(0, 3, (7, 9)))
        loss = dice_loss(prob[0, 0], target)
        self.assertTrue(torch.isfinite(loss))
        loss.backward()
        for name, p in head.named_parameters():
            self.assertIsNotNone(p.grad, name)


if __name__ == "__main__":
    unittest.main()
