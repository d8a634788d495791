import math
import unittest

import numpy as np
import torch

from vps_d2.data.dataset_mapper import PANOPTIC_IGNORE, panoptic_targets
from vps_d2.modeling.panoptic import OUTSIDE_BOX_LOGIT, panoptic_logits, panoptic_loss, paste_mask_logits

O = OUTSIDE_BOX_LOGIT


def _sem(h=8, w=8):
    # 4 semantic channels with constant logits 1, 2, 3, 4 (channel c holds c + 1)
    return torch.arange(1.0, 5.0)[:, None, None].expand(4, h, w).clone()


STUFF = torch.tensor([2, 0])  # stuff index 0 -> channel 2, stuff index 1 -> channel 0


class TestPanopticLogits(unittest.TestCase):
    def test_two_instances_exact_values(self):
        # stride 1 on an 8x8 image: logit pixel (y, x) is inside a box when (x + .5, y + .5) is in it.
        # inst 0: channel 1 (logit 2), box (1, 1, 4, 4) -> rows/cols 1..3, mask logit 5 -> 2 + 5 = 7
        # inst 1: channel 3 (logit 4), box (5, 0, 9.5, 3) past the right border -> rows 0..2,
        #         cols 5..7, mask logit -1 -> 4 - 1 = 3
        boxes = torch.tensor([[1.0, 1.0, 4.0, 4.0], [5.0, 0.0, 9.5, 3.0]])
        masks = torch.stack([torch.full((28, 28), 5.0), torch.full((28, 28), -1.0)])
        logits, pasted = panoptic_logits(_sem(), STUFF, torch.tensor([1, 3]), boxes, masks, stride=1)
        self.assertEqual(tuple(logits.shape), (4, 8, 8))
        self.assertTrue(torch.equal(logits[0], torch.full((8, 8), 3.0)))  # stuff 0 = channel 2
        self.assertTrue(torch.equal(logits[1], torch.full((8, 8), 1.0)))  # stuff 1 = channel 0
        exp0 = torch.full((8, 8), O)
        exp0[1:4, 1:4] = 7.0
        exp1 = torch.full((8, 8), O)
        exp1[0:3, 5:8] = 3.0
        self.assertTrue(torch.equal(logits[2], exp0))
        self.assertTrue(torch.equal(logits[3], exp1))
        # pasted mask logits alone: the mask value inside, OUTSIDE_BOX_LOGIT outside
        self.assertTrue(torch.equal(pasted[0], torch.where(exp0 > O, 5.0, O)))
        self.assertTrue(torch.equal(pasted[1], torch.where(exp1 > O, -1.0, O)))
        # argmax: an instance wins only inside its box; elsewhere the best stuff (index 0, logit 3)
        arg = logits.argmax(0)
        self.assertEqual(arg[2, 2].item(), 2)
        self.assertEqual(arg[0, 0].item(), 0)
        self.assertEqual(arg[1, 6].item(), 0)  # 3 (inst 1) ties stuff 0's 3 -> first channel

    def test_bilinear_paste_cell_convention(self):
        # 2x2 mask [[0, 1], [2, 3]] in box (0, 0, 4, 4), stride 1. Pixel centres .5, 1.5, 2.5, 3.5
        # fall at mask-cell coordinates -.25, .25, .75, 1.25 (cell m spans [m, m + 1) of 2 cells over
        # the box, centre at m + .5); border-clamped bilinear weights of cell 1: 0, .25, .75, 1.
        # So value(y, x) = wx + 2 * wy.
        masks = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
        pasted, inside = paste_mask_logits(masks, torch.tensor([[0.0, 0.0, 4.0, 4.0]]), (5, 5), stride=1)
        wgt = torch.tensor([0.0, 0.25, 0.75, 1.0])
        expected = torch.full((5, 5), O)
        expected[:4, :4] = wgt[None, :] + 2 * wgt[:, None]
        self.assertTrue(torch.allclose(pasted[0], expected))
        self.assertEqual(inside[0].sum().item(), 16)

    def test_box_partly_outside_the_image(self):
        # box (-4, -4, 2, 2): on the grid only pixels 0..1; centres .5, 1.5 map to cell coordinates
        # ((.5 + 4) / 6 * 2 - 1 + 1) * 2 / 2 - .5 = 1.0 and 1.33 -> clamped to cell 1 on both axes:
        # value = mask[1, 1] = 3 at the 4 pixels
        masks = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
        pasted, _ = paste_mask_logits(masks, torch.tensor([[-4.0, -4.0, 2.0, 2.0]]), (4, 4), stride=1)
        expected = torch.full((4, 4), O)
        expected[:2, :2] = 3.0
        self.assertTrue(torch.allclose(pasted[0], expected))
        # a box entirely off the image, and a degenerate one, claim nothing
        boxes = torch.tensor([[10.0, 10.0, 20.0, 20.0], [2.0, 2.0, 2.0, 5.0]])
        pasted, inside = paste_mask_logits(torch.zeros(2, 2, 2), boxes, (4, 4), stride=1)
        self.assertFalse(inside.any())
        self.assertTrue(torch.equal(pasted, torch.full((2, 4, 4), O)))

    def test_stride_uses_the_subsampled_pixels(self):
        # stride 4 on an 8x8 image: logit pixel (i, j) stands for image pixel (4i, 4j), centre
        # (4j + .5, 4i + .5) = .5 or 4.5. Box (1, 1, 5, 5) contains only 4.5 -> only logit (1, 1).
        logits, pasted = panoptic_logits(_sem(2, 2), STUFF, torch.tensor([1]), torch.tensor([[1.0, 1.0, 5.0, 5.0]]),
                                         torch.zeros(1, 28, 28), stride=4)
        self.assertTrue(torch.equal(logits[2], torch.tensor([[O, O], [O, 2.0]])))

    def test_no_instances(self):
        logits, pasted = panoptic_logits(_sem(), STUFF, torch.zeros(0, dtype=torch.long), torch.zeros(0, 4),
                                         torch.zeros(0, 28, 28), stride=1)
        self.assertTrue(torch.equal(logits, _sem()[STUFF]))
        self.assertEqual(tuple(pasted.shape), (0, 8, 8))

    def test_gradients_reach_semantic_and_mask_logits(self):
        sem = _sem().requires_grad_()
        masks = torch.zeros(1, 28, 28, requires_grad=True)
        logits, _ = panoptic_logits(sem, STUFF, torch.tensor([1]), torch.tensor([[0.0, 0.0, 4.0, 4.0]]), masks, 1)
        logits[2].sum().backward()
        # only the 16 in-box pixels of channel 1 receive gradient
        self.assertEqual(sem.grad[1].sum().item(), 16.0)
        self.assertEqual(sem.grad[[0, 2, 3]].abs().sum().item(), 0.0)
        self.assertAlmostEqual(masks.grad.sum().item(), 16.0, places=4)


class TestPanopticLoss(unittest.TestCase):
    def test_hand_computed_2x2(self):
        # S = 2, K = 1; every pixel has logits [0, 0, ln 2] -> softmax [1/4, 1/4, 1/2].
        # target [[0, 2], [ignore, 1]]: CE = ln 4, ln 2, (ignored), ln 4; mean over 3 = 5 ln2 / 3
        logits = torch.tensor([0.0, 0.0, math.log(2)])[:, None, None].expand(3, 2, 2).clone()
        target = torch.tensor([[0, 2], [PANOPTIC_IGNORE, 1]])
        loss = panoptic_loss(logits, target, stride=1)
        self.assertAlmostEqual(loss.item(), 5 * math.log(2) / 3, places=6)
        # stride 2 keeps target[::2, ::2]; the other pixels hold 99, which would fail if used
        big = torch.full((4, 4), 99)
        big[::2, ::2] = target
        self.assertAlmostEqual(panoptic_loss(logits, big, stride=2).item(), 5 * math.log(2) / 3, places=6)

    def test_all_ignored_and_no_instances(self):
        logits = torch.zeros(2, 2, 2, requires_grad=True)
        loss = panoptic_loss(logits, torch.full((2, 2), PANOPTIC_IGNORE), stride=1)
        self.assertEqual(loss.item(), 0.0)
        loss.backward()
        # K = 0: stuff-only logits; uniform over 2 channels -> ln 2
        self.assertAlmostEqual(panoptic_loss(torch.zeros(2, 2, 2), torch.tensor([[0, 1], [1, 0]]), 1).item(),
                               math.log(2), places=6)

    def test_mapper_targets_lie_inside_their_boxes(self):
        # With the mapper's tight GT boxes, every pixel labelled S + k at the [::4] grid lies in box k,
        # so the loss never meets an OUTSIDE_BOX_LOGIT target channel (it stays small).
        ids = np.zeros((16, 20), np.int64)
        ids[:, 10:] = 2  # stuff "b"
        ids[5:9, 3:13] = 7  # instance; its last row 8 and column 12 are on the [::4] grid
        ids[1:3, 17:19] = 8  # tiny instance
        segs = [{"id": 1, "category_id": 0, "isthing": 0}, {"id": 2, "category_id": 1, "isthing": 0},
                {"id": 7, "category_id": 2, "isthing": 1}, {"id": 8, "category_id": 2, "isthing": 1}]
        ids[ids == 0] = 1
        fields, _, pan = panoptic_targets(ids, segs, {2: 0}, {0: 0, 1: 1}, 255)
        pan = torch.as_tensor(pan)
        k = len(fields["boxes"])
        logits, _ = panoptic_logits(torch.zeros(3, 4, 5), torch.tensor([0, 1]), torch.tensor([2] * k),
                                    torch.as_tensor(fields["boxes"]), torch.zeros(k, 28, 28), stride=4)
        loss = panoptic_loss(logits, pan, stride=4)
        self.assertLess(loss.item(), math.log(4) + 1e-6)  # at most ln(#channels) with all-zero logits


if __name__ == "__main__":
    unittest.main()
