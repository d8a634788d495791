import unittest

import torch

from vps_d2.tracking import AffinityWeights, Detections, VideoTracker
from vps_d2.tracking.affinity import affinity_matrix, box_iou, mask_iou

H, W = 20, 40


def box_mask(box):
    m = torch.zeros(H, W)
    x0, y0, x1, y1 = [int(v) for v in box]
    m[y0:y1, x0:x1] = 1
    return m


def dets(objs):
    """objs: list of (embedding, box, class, score)."""
    if not objs:
        return Detections(torch.zeros(0, 3), torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), torch.zeros(0), torch.zeros(0, H, W))
    emb, boxes, cls, score = zip(*objs)
    return Detections(torch.tensor(emb, dtype=torch.float32), torch.tensor(boxes, dtype=torch.float32),
                      torch.tensor(cls), torch.tensor(score), torch.stack([box_mask(b) for b in boxes]))


A, B, C = [4.0, 0, 0], [0, 4.0, 0], [0, 0, 4.0]  # well separated appearance embeddings


class TestAffinity(unittest.TestCase):
    def test_iou_helpers(self):
        self.assertAlmostEqual(box_iou(torch.tensor([[0.0, 0, 2, 2]]), torch.tensor([[1.0, 0, 3, 2]])).item(), 1 / 3)
        m = torch.zeros(1, 2, 2)
        m[0, 0] = 1
        self.assertAlmostEqual(mask_iou(m, torch.ones(1, 2, 2)).item(), 0.5)

    def test_hand_computed_scores(self):
        # one detection, one track: dot 16 against the dummy's 0; same class; IoU 1; score 0.5.
        # The log-score counts against starting a new track only.
        d = dets([(A, (0, 0, 10, 10), 1, 0.5)])
        a, new = affinity_matrix(d, d, AffinityWeights(), metric="dot")
        log_sm = torch.tensor([0.0, 16.0]).log_softmax(0)
        self.assertAlmostEqual(a.item(), log_sm[1].item() + 2.0 + 10.0, places=5)
        self.assertAlmostEqual(new.item(), log_sm[0].item() + 10.0 + torch.tensor(0.5).log().item(), places=5)


class TestVideoTracker(unittest.TestCase):
    def test_identity_kept_through_motion_and_new_objects_get_new_ids(self):
        tr = VideoTracker(metric="dot")
        first = tr.update(dets([(A, (0, 0, 8, 8), 1, 0.7), (B, (20, 0, 28, 8), 1, 0.9)]))
        self.assertEqual(first, [2, 1])  # ids by decreasing score on the first frame
        for t in range(1, 5):
            ids = tr.update(dets([(B, (20 + t, 0, 28 + t, 8), 1, 0.9), (A, (t, 0, 8 + t, 8), 1, 0.7)]))
            self.assertEqual(ids, [1, 2])
        ids = tr.update(dets([(A, (5, 0, 13, 8), 1, 0.7), (C, (30, 10, 38, 18), 2, 0.8), (B, (25, 0, 33, 8), 1, 0.9)]))
        self.assertEqual(ids, [2, 3, 1])

    def test_swap_prone_crossing_is_resolved_by_appearance(self):
        tr = VideoTracker(metric="dot")
        tr.update(dets([(A, (0, 0, 10, 10), 1, 0.9), (B, (20, 0, 30, 10), 1, 0.9)]))
        # the two cars cross: boxes nearly coincide, A is now on the right
        ids = tr.update(dets([(B, (9, 0, 19, 10), 1, 0.9), (A, (11, 0, 21, 10), 1, 0.9)]))
        self.assertEqual(ids, [2, 1])
        ids = tr.update(dets([(A, (20, 0, 30, 10), 1, 0.9), (B, (0, 0, 10, 10), 1, 0.9)]))
        self.assertEqual(ids, [1, 2])

    def test_reidentified_after_a_two_frame_occlusion(self):
        tr = VideoTracker(metric="dot", memory_frames=3)
        tr.update(dets([(A, (0, 0, 8, 8), 1, 0.9), (B, (20, 0, 28, 8), 1, 0.9)]))
        tr.update(dets([(B, (21, 0, 29, 8), 1, 0.9)]))  # A hidden
        tr.update(dets([(B, (22, 0, 30, 8), 1, 0.9)]))  # still hidden
        ids = tr.update(dets([(A, (3, 0, 11, 8), 1, 0.9), (B, (23, 0, 31, 8), 1, 0.9)]))
        self.assertEqual(ids, [1, 2])

    def test_memory_forgets_after_its_horizon(self):
        tr = VideoTracker(metric="dot", memory_frames=1)
        tr.update(dets([(A, (0, 0, 8, 8), 1, 0.9)]))
        tr.update(dets([]))
        tr.update(dets([]))
        self.assertEqual(tr.update(dets([(A, (0, 0, 8, 8), 1, 0.9)])), [2])

    def test_conflicting_claims_are_resolved_one_to_one(self):
        tr = VideoTracker(metric="dot")
        tr.update(dets([(A, (0, 0, 10, 10), 1, 0.9)]))
        # two detections both look like track 1; the better one keeps the id, the other is new
        ids = tr.update(dets([(A, (12, 0, 22, 10), 1, 0.9), (A, (1, 0, 11, 10), 1, 0.9)]))
        self.assertEqual(sorted(ids), [1, 2])
        self.assertEqual(ids[1], 1)  # the overlapping one (mask IoU) wins

    def test_class_disagreement_starts_a_new_track(self):
        # moderate appearance agreement (dot 4): the class cue (10) decides
        weak = [2.0, 0, 0]
        tr = VideoTracker(metric="dot")
        tr.update(dets([(weak, (0, 0, 10, 10), 1, 0.9)]))
        self.assertEqual(tr.update(dets([(weak, (0, 0, 10, 10), 3, 0.9)])), [2])
        self.assertEqual(tr.update(dets([(weak, (0, 0, 10, 10), 3, 0.9)])), [2])

    def test_reset_between_videos(self):
        tr = VideoTracker(metric="dot")
        tr.update(dets([(A, (0, 0, 8, 8), 1, 0.9), (B, (20, 0, 28, 8), 1, 0.8)]))
        tr.update(dets([(C, (0, 0, 8, 8), 2, 0.9)]))
        tr.reset()
        self.assertEqual(tr.update(dets([(C, (0, 0, 8, 8), 2, 0.9)])), [1])
        self.assertEqual(len(tr.tracks), 1)

    def test_mask_warp_is_applied_to_memory(self):
        calls = []

        def shift_right(masks):
            calls.append(masks.shape)
            return torch.roll(masks, 10, dims=-1)

        # appearance off: only the warped mask IoU can tell which track moved where
        tr = VideoTracker(metric="dot", weights=AffinityWeights(appearance=0.0, same_class=0.0, log_score=0.0, mask_iou=2.0))
        tr.update(dets([(A, (0, 0, 10, 10), 1, 0.9), (A, (10, 0, 20, 10), 1, 0.9)]))
        ids = tr.update(dets([(A, (20, 0, 30, 10), 1, 0.9), (A, (10, 0, 20, 10), 1, 0.9)]), warp=shift_right)
        self.assertEqual(ids, [2, 1])
        self.assertEqual(calls, [(2, H, W)])

    def test_score_cue_keeps_a_doubtful_look_alike_on_its_track(self):
        # appearance alone: dot(D, A) = -0.4 gives log-softmax [new -0.513 | track -0.913], so without
        # the score cue the detection starts a track. With it the new option also pays log(s):
        # s = 0.5 -> -1.206 < -0.913 (keeps id 1); s = 0.95 -> -0.564 > -0.913 (new id 2). Added to
        # every option, as in the original, the cue could change neither.
        d = [-0.1, 0, 0]
        for log_score, score, expected in ((1.0, 0.5, [1]), (1.0, 0.95, [2]), (0.0, 0.5, [2])):
            with self.subTest(log_score=log_score, score=score):
                tr = VideoTracker(metric="dot", weights=AffinityWeights(appearance=1.0, mask_iou=0.0, same_class=0.0, log_score=log_score))
                tr.update(dets([(A, (0, 0, 10, 10), 1, 0.9)]))
                self.assertEqual(tr.update(dets([(d, (30, 10, 40, 20), 1, score)])), expected)

    def test_each_table_iv_cue_alone_decides_differently(self):
        # tracks 1, 2, 3: classes 1, 2, 3 at left / middle / right with embeddings A, B, C. The new
        # detection has class 1 (like track 1), track 2's place and track 3's look.
        rows = {
            "Cls-Sort": (dict(same_class=10.0, log_score=1.0), [1]),
            "IoU-Match": (dict(mask_iou=2.0), [2]),
            "Feat-Match": (dict(appearance=1.0), [3]),
            "no cue": ({}, [4]),  # every option ties with "new object": a new track
        }
        for row, (cues, expected) in rows.items():
            with self.subTest(row=row):
                weights = dict(appearance=0.0, mask_iou=0.0, box_iou=0.0, same_class=0.0, log_score=0.0)
                tr = VideoTracker(metric="dot", weights=AffinityWeights(**dict(weights, **cues)))
                tr.update(dets([(A, (0, 0, 10, 10), 1, 0.9), (B, (15, 0, 25, 10), 2, 0.8), (C, (30, 0, 40, 10), 3, 0.7)]))
                self.assertEqual(tr.update(dets([(C, (15, 0, 25, 10), 1, 0.9)])), expected)

    def test_ids_do_not_wrap(self):
        tr = VideoTracker(metric="dot", memory_frames=0)
        for _ in range(300):
            ids = tr.update(dets([(A, (0, 0, 8, 8), 1, 0.9)]))
            tr.tracks = []  # forget: every frame starts a new track
        self.assertEqual(ids, [300])


if __name__ == "__main__":
    unittest.main()
