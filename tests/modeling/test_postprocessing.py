import unittest

import torch

from vps_d2.modeling.postprocessing import merge_panoptic, remove_overlapping_masks

NEG = -1e4
BOXES = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.0]])  # the two instances' top-left box


class TestMaskRemoval(unittest.TestCase):
    def test_overlap_with_same_class_only(self):
        masks = torch.zeros(4, 4, 4, dtype=torch.bool)
        masks[0, :2] = True  # score 0.9, class 0: rows 0-1
        masks[1, 1:3] = True  # score 0.8, class 0: half of it on mask 0 -> 50 % > 30 %: dropped
        masks[2, 1:3] = True  # score 0.7, class 1: same pixels but another class: kept
        # mask 3 is empty: dropped
        kept = remove_overlapping_masks(masks, torch.tensor([0.9, 0.8, 0.7, 0.95]), torch.tensor([0, 0, 1, 0]), 0.3)
        self.assertEqual(kept.tolist(), [0, 2])

    def test_threshold_is_strict(self):
        masks = torch.zeros(2, 1, 10, dtype=torch.bool)
        masks[0, 0, :5] = True
        masks[1, 0, 2:12] = True  # 8 pixels, 3 of them on mask 0: 37.5 %
        self.assertEqual(remove_overlapping_masks(masks, torch.tensor([1.0, 0.5]), torch.zeros(2), 0.375).tolist(), [0, 1])
        self.assertEqual(remove_overlapping_masks(masks, torch.tensor([1.0, 0.5]), torch.zeros(2), 0.3).tolist(), [0])


class TestMergePanoptic(unittest.TestCase):
    def setUp(self):
        # 2 stuff channels, 2 instances on a 4x4 map (stride 1); instance 1 duplicates instance 0
        self.logits = torch.full((4, 4, 4), NEG)
        self.logits[0] = 1.0  # stuff 0 everywhere...
        self.logits[1, 3] = 2.0  # ...but stuff 1 wins the last row
        self.logits[2, :2, :2] = 5.0  # instance 0 in the top-left box
        self.logits[3, :2, :2] = 4.0
        self.pasted = torch.full((2, 4, 4), NEG)
        self.pasted[:, :2, :2] = 3.0

    def test_argmax_with_removal(self):
        channel_map, kept = merge_panoptic(self.logits, self.pasted, BOXES, torch.tensor([0.9, 0.8]), torch.tensor([0, 0]),
                                           num_stuff=2, input_size=(4, 4), output_size=(4, 4), stride=1)
        self.assertEqual(kept.tolist(), [0])
        expected = torch.zeros(4, 4, dtype=torch.long)
        expected[:2, :2] = 2  # S + 0: the kept instance
        expected[3] = 1
        self.assertTrue(torch.equal(channel_map, expected))

    def test_small_stuff_becomes_void_and_output_is_resized(self):
        channel_map, _ = merge_panoptic(self.logits, self.pasted, BOXES, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]),
                                        num_stuff=2, input_size=(4, 4), output_size=(8, 8), stride=1,
                                        stuff_area_limit=20)
        self.assertEqual(channel_map.shape, (8, 8))
        self.assertTrue((channel_map[7] == -1).all())  # stuff 1 covers < 20 px of the 8x8 output: void
        self.assertNotIn(1, channel_map.unique().tolist())
        self.assertEqual(int(channel_map[0, 0]), 2)  # the instance, kept as S + 0
        self.assertGreater(int((channel_map == 0).sum()), 20)  # large stuff stays

    def test_padding_is_cropped(self):
        logits = torch.zeros(1, 2, 3)
        logits[0, :, 2] = 5.0
        # the padded input is 2x3 at stride 1 but the real image is 2x2: the last column is padding
        channel_map, _ = merge_panoptic(logits, torch.zeros(0, 2, 3), torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long),
                                        num_stuff=1, input_size=(2, 2), output_size=(2, 2), stride=1)
        self.assertEqual(channel_map.shape, (2, 2))

    def test_no_detection(self):
        channel_map, kept = merge_panoptic(self.logits[:2], torch.zeros(0, 4, 4), torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long),
                                           num_stuff=2, input_size=(4, 4), output_size=(4, 4), stride=1)
        self.assertEqual(len(kept), 0)
        self.assertEqual(set(channel_map.unique().tolist()), {0, 1})


if __name__ == "__main__":
    unittest.main()
