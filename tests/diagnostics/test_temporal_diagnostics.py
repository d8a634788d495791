"""The known-answer diagnostics on tiny inputs: exact ground truth, oracle embeddings."""
import unittest

import numpy as np
import torch

from vps_d2.diagnostics import temporal
from vps_d2.diagnostics.scenarios import make_scenario

from ..common import get_config


def oracle_embeddings():
    """One-hot of the ground-truth identity: the embedding cue's known answer is perfect."""
    def embed(t, image, boxes, values):
        out = torch.zeros((len(values), 64))
        for i, v in enumerate(values):
            out[i, v % 64] = 1.0
        return out
    return embed


class TestWarpDiagnostics(unittest.TestCase):
    def test_ground_truth_flow_warps_labels_exactly(self):
        video = make_scenario("hard", 100, frames=15)
        report = temporal.warp_diagnostics([video])
        self.assertGreaterEqual(report["gt_flow_label_accuracy"], 0.97)
        quarter = report["label_accuracy_quarter"]
        self.assertGreater(quarter["gt"], quarter["zero"])
        epe = report["epe"]
        self.assertLess(epe["gap1"]["dis"]["stuff"], epe["gap1"]["zero"]["stuff"] + 1e-6)
        self.assertGreater(epe["gap5"]["zero"]["things"], epe["gap1"]["zero"]["things"])  # more motion


class TestTrackingOracle(unittest.TestCase):
    def test_known_answers_of_each_cue(self):
        cfg = get_config()
        cfg.MODEL.VPS.TRACK_ON = True
        scenarios = {name: [make_scenario(name, 100)] for name in ("slow_lookalike", "fast_distinct", "reentry")}
        aq = temporal.tracking_oracle(scenarios, cfg, oracle_embeddings)
        self.assertEqual(aq["slow_lookalike"]["iou"]["AQ"], 1.0)  # slow: consecutive masks overlap
        self.assertEqual(aq["fast_distinct"]["embedding"]["AQ"], 1.0)
        self.assertLess(aq["fast_distinct"]["iou"]["AQ"], 0.5)  # moved more than its width: IoU 0
        self.assertEqual(aq["reentry"]["combined"]["id_switches"], 0)  # re-entries within the memory
        for cues in aq.values():
            best = max(v["AQ"] for c, v in cues.items() if c != "combined")
            self.assertGreaterEqual(cues["combined"]["AQ"], best - 0.005)

    def test_association_quality_by_hand(self):
        # one object over 2 frames of 10 px: the same track (AQ 1), or a switch (two halves: AQ 1/2)
        self.assertEqual(temporal.association_quality({7: [1, 1]}, {7: [10.0, 10.0]}), {"AQ": 1.0, "id_switches": 0})
        split = temporal.association_quality({7: [1, 2]}, {7: [10.0, 10.0]})
        self.assertAlmostEqual(split["AQ"], 2 * (10 * 10 / (10 + 20 - 10)) / 20)
        self.assertEqual(split["id_switches"], 1)


class TestImagePQ(unittest.TestCase):
    def test_perfect_prediction_scores_100(self):
        labels = np.zeros((8, 8), np.int32)
        labels[2:5, 2:5] = 13001
        ids = labels + 1
        segments = [{"id": 1, "category_id": 0}, {"id": 13002, "category_id": 13}]
        self.assertAlmostEqual(temporal.image_pq([(labels, (ids, segments))], {c: c for c in range(19)}), 100.0)


if __name__ == "__main__":
    unittest.main()
