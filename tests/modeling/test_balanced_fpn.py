import unittest

import torch

from vps_d2.modeling.balanced_fpn import gather, redistribute


class TestBalancedFPN(unittest.TestCase):
    def test_gather_sums_levels_upsampled_to_p2(self):
        feats = {
            "p2": torch.ones(1, 1, 4, 4),
            "p3": torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2),
            "p4": torch.full((1, 1, 1, 1), 10.0),
        }
        f = gather(feats, ["p2", "p3", "p4"])
        # pixel (y, x) = 1 + p3[y // 2, x // 2] + 10
        expected = torch.tensor([[12, 12, 13, 13], [12, 12, 13, 13], [14, 14, 15, 15], [14, 14, 15, 15]]).float()
        self.assertTrue(torch.equal(f[0, 0], expected))

    def test_redistribute_adds_max_pooled_map_to_each_level(self):
        feats = {"p2": torch.zeros(1, 1, 4, 4), "p3": torch.ones(1, 1, 2, 2), "p4": torch.zeros(1, 1, 1, 1),
                 "other": torch.zeros(1)}
        f = torch.arange(16.0).view(1, 1, 4, 4)
        out = redistribute(feats, f, ["p2", "p3", "p4"])
        self.assertTrue(torch.equal(out["p2"], f))
        # 2x2 cells of arange(16).view(4, 4): maxima 5, 7, 13, 15; plus the level's 1
        self.assertTrue(torch.equal(out["p3"][0, 0], torch.tensor([[6.0, 8.0], [14.0, 16.0]])))
        self.assertEqual(out["p4"].item(), 15.0)
        self.assertIs(out["other"], feats["other"])
        self.assertTrue(torch.equal(feats["p3"], torch.ones(1, 1, 2, 2)), "inputs must not be modified")

    def test_zero_map_changes_nothing_and_odd_sizes_work(self):
        feats = {"p2": torch.randn(2, 3, 25, 33), "p3": torch.randn(2, 3, 13, 17), "p4": torch.randn(2, 3, 7, 9)}
        f = gather(feats, list(feats))
        self.assertEqual(f.shape, (2, 3, 25, 33))
        out = redistribute(feats, torch.zeros_like(f), list(feats))
        for k in feats:
            self.assertTrue(torch.equal(out[k], feats[k]))


if __name__ == "__main__":
    unittest.main()
