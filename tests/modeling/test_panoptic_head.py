import math
import unittest

import numpy as np
import torch

from vps_d2.data.dataset_mapper import PANOPTIC_IGNORE, panoptic_targets
from vps_d2.modeling.panoptic import OUTSIDE_BOX_LOGIT, panoptic_logits, panoptic_loss, paste_mask_logits
from vps_d2.modeling.panoptic import box_inside, subsample_target, upsample_panoptic_logits

O = OUTSIDE_BOX_LOGIT


def _sem(h=8, w=8):
    # 4 semantic channels with constant logits 1, 2, 3, 4 (channel c holds c + 1)
    return torch.arange(1.0, 5.0)[:, None, None].expand(4, h, w).clone()


STUFF = torch.tensor([2, 0])  # stuff index 0 -> channel 2, stuff index 1 -> channel 0


class TestPanopticLogits(unittest.TestCase):
    def test_two_instances_exact_values(self):
        # stride 1 on an 8x8 image: pixel (y, x) is inside a box when (x + .5, y + .5) is in it.
        # inst 0: channel 1 (logit 2), box (1, 1, 4, 4) -> rows/cols 1..3, mask logit 5 -> 2 + 5 = 7
        # inst 1: channel 3 (logit 4), box (5, 0, 9.5, 3) past the right border -> rows 0..2,
        #         cols 5..7, mask logit -1 -> 4 - 1 = 3
        boxes = torch.tensor([[1.0, 1.0, 4.0, 4.0], [5.0, 0.0, 9.5, 3.0]])
        masks = torch.stack([torch.full((28, 28), 5.0), torch.full((28, 28), -1.0)])
        logits, pasted = panoptic_logits(_sem(), STUFF, torch.tensor([1, 3]), boxes, masks, stride=1)
        self.assertEqual(tuple(logits.shape), (4, 8, 8))
        # before the box test, instance channels hold their value everywhere (border-extended mask)
        self.assertTrue(torch.equal(logits[2], torch.full((8, 8), 7.0)))
        logits = upsample_panoptic_logits(logits, boxes, 2, 1, (8, 8))
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

    def test_stride_cells_stand_for_block_centres(self):
        # stride 4 on an 8x8 image: cell (i, j) stands for the block centre ((j + .5)·4, (i + .5)·4)
        # = 2 or 6. Box (1, 1, 5, 5) contains only centre 2 -> only cell (0, 0) is inside; its blocks
        # [0, 4) and [4, 8) both touch it. A box narrower than a cell, (2.5, 2.5, 3.5, 3.5), contains
        # no centre but touches cell (0, 0): the pasted mask (mask removal, tracker) keeps that cell.
        boxes = torch.tensor([[1.0, 1.0, 5.0, 5.0], [2.5, 2.5, 3.5, 3.5]])
        self.assertEqual(box_inside(boxes, (2, 2), 4)[:, :, :].flatten(1).tolist(),
                         [[True, False, False, False], [False, False, False, False]])
        self.assertEqual(box_inside(boxes, (2, 2), 4, touching=True).flatten(1).tolist(),
                         [[True, True, True, True], [True, False, False, False]])
        _, pasted = panoptic_logits(_sem(2, 2), STUFF, torch.tensor([1, 1]), boxes, torch.zeros(2, 28, 28), stride=4)
        self.assertTrue(torch.equal(pasted[1], torch.tensor([[0.0, O], [O, O]])))

    def test_no_instances(self):
        logits, pasted = panoptic_logits(_sem(), STUFF, torch.zeros(0, dtype=torch.long), torch.zeros(0, 4),
                                         torch.zeros(0, 28, 28), stride=1)
        self.assertTrue(torch.equal(logits, _sem()[STUFF]))
        self.assertEqual(tuple(pasted.shape), (0, 8, 8))

    def test_gradients_reach_semantic_and_mask_logits(self):
        sem = _sem().requires_grad_()
        masks = torch.zeros(1, 28, 28, requires_grad=True)
        box = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
        logits, _ = panoptic_logits(sem, STUFF, torch.tensor([1]), box, masks, 1)
        upsample_panoptic_logits(logits, box, 2, 1, (8, 8))[2].sum().backward()
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
        self.assertAlmostEqual(panoptic_loss(logits, target).item(), 5 * math.log(2) / 3, places=6)

    def test_all_ignored_and_no_instances(self):
        logits = torch.zeros(2, 2, 2, requires_grad=True)
        loss = panoptic_loss(logits, torch.full((2, 2), PANOPTIC_IGNORE))
        self.assertEqual(loss.item(), 0.0)
        loss.backward()
        # K = 0: stuff-only logits; uniform over 2 channels -> ln 2
        self.assertAlmostEqual(panoptic_loss(torch.zeros(2, 2, 2), torch.tensor([[0, 1], [1, 0]])).item(),
                               math.log(2), places=6)

    def test_mapper_targets_lie_inside_their_boxes(self):
        # With the mapper's tight GT boxes, every pixel labelled S + k lies in box k, so the loss
        # never meets an OUTSIDE_BOX_LOGIT target channel (it stays small).
        ids = np.zeros((16, 20), np.int64)
        ids[:, 10:] = 2  # stuff "b"
        ids[5:9, 3:13] = 7  # instance
        ids[1:3, 17:19] = 8  # tiny instance
        segs = [{"id": 1, "category_id": 0, "isthing": 0}, {"id": 2, "category_id": 1, "isthing": 0},
                {"id": 7, "category_id": 2, "isthing": 1}, {"id": 8, "category_id": 2, "isthing": 1}]
        ids[ids == 0] = 1
        fields, _, pan = panoptic_targets(ids, segs, {2: 0}, {0: 0, 1: 1}, 255)
        pan = torch.as_tensor(pan)
        k = len(fields["boxes"])
        boxes = torch.as_tensor(fields["boxes"])
        logits, _ = panoptic_logits(torch.zeros(3, 4, 5), torch.tensor([0, 1]), torch.tensor([2] * k),
                                    boxes, torch.zeros(k, 28, 28), stride=4)
        loss = panoptic_loss(upsample_panoptic_logits(logits, boxes, 2, 4, (16, 20)), pan)
        self.assertLess(loss.item(), math.log(4) + 1e-6)  # at most ln(#channels) with all-zero logits


class TestThinInstances(unittest.TestCase):
    """Finding 1 of issue 12: masking by the box on the 1/4 grid and upsampling afterwards blended
    -1e4 into every pixel within one cell of a box edge; a 5 px wide person kept 0 of its pixels."""

    def _merge(self, box, size=(32, 64)):
        from vps_d2.modeling.postprocessing import merge_panoptic
        h, w = size[0] // 4, size[1] // 4
        sem = torch.zeros(3, h, w)
        sem[0] = 5.0  # a confident stuff class everywhere...
        masks = torch.full((1, 28, 28), 20.0)  # ...and a perfectly confident instance in its box
        boxes = torch.tensor([box])
        logits, pasted = panoptic_logits(sem, torch.tensor([0, 1]), torch.tensor([2]), boxes, masks, stride=4)
        channel_map, kept = merge_panoptic(logits, pasted, boxes, torch.tensor([0.9]), torch.tensor([0]), 2,
                                           size, size, stride=4)
        self.assertEqual(kept.tolist(), [0])
        return channel_map == 2

    def test_thin_instance_keeps_its_pixels_at_every_offset(self):
        for dx in range(4):
            for dy in range(4):
                for w, h in ((5, 24), (3, 9), (40, 20)):
                    x0, y0 = 9 + dx, 3 + dy
                    won = self._merge([float(x0), float(y0), float(x0 + w), float(y0 + h)])
                    box = torch.zeros_like(won)
                    box[y0 : y0 + h, x0 : x0 + w] = True
                    with self.subTest(dx=dx, dy=dy, w=w, h=h):
                        self.assertGreaterEqual(int((won & box).sum()), 0.95 * w * h)
                        self.assertEqual(int((won & ~box).sum()), 0)  # nothing outside its box


class TestGridConvention(unittest.TestCase):
    """Finding 4 of issue 12: one grid for every 1/4 map (cell i = block [4i, 4i + 4), centre
    4i + 2), checked with a 1-pixel line: the cell that minimises the semantic loss, the cell that
    minimises the panoptic loss and the cell whose block the merge paints are the same."""

    STRIDE, H, W = 4, 16, 8

    def _peak(self, i):
        """Logits (2, H/4, W/4): class 1 wins cell row i by 10, class 0 wins every other row."""
        logits = torch.zeros(2, self.H // 4, self.W // 4)
        logits[1] = -10.0
        logits[1, i] = 10.0
        return logits

    def _line(self, r, label=1):
        target = torch.full((self.H, self.W), PANOPTIC_IGNORE)
        target[r] = label
        return target

    def test_one_pixel_line(self):
        from detectron2.layers import ShapeSpec

        from vps_d2.modeling.panoptic import UPSNetSemanticHead
        from vps_d2.modeling.postprocessing import merge_panoptic

        head = UPSNetSemanticHead({"p2": ShapeSpec(channels=4, stride=4)}, num_classes=2, conv_dims=4,
                                  common_stride=4, norm="", ignore_value=PANOPTIC_IGNORE)
        cells = range(self.H // 4)
        for r in range(self.H):
            line = self._line(r)
            sem = [head.losses(self._peak(i)[None], line[None])["loss_sem_seg"].item() for i in cells]
            pan = [panoptic_loss(upsample_panoptic_logits(self._peak(i), torch.zeros(0, 4), 2, 4, (self.H, self.W)),
                                 line).item() for i in cells]
            painted = [i for i in cells if (merge_panoptic(self._peak(i), torch.zeros(0, 4, 2), torch.zeros(0, 4),
                                                           torch.zeros(0), torch.zeros(0, dtype=torch.long), 2,
                                                           (self.H, self.W), (self.H, self.W), 4)[0][r] == 1).all()]
            with self.subTest(row=r):
                self.assertEqual(painted, [r // 4])  # the merge paints block [4i, 4i + 4) for cell i
                self.assertEqual(int(np.argmin(sem)), r // 4)
                self.assertEqual(int(np.argmin(pan)), r // 4)
                sub = subsample_target(line, 4, (self.H // 4, self.W // 4))
                rows = torch.nonzero((sub == 1).any(dim=1)).flatten().tolist()
                # the 1/4 targets (edge, tube) take each cell's centre pixel 4i + 2
                self.assertEqual(rows, [r // 4] if r % 4 == 2 else [])
