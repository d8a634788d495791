"""Hand-computed VPQ / PQ / STQ cases (paper §III-B, Eq. 1; facts §5.1, §1.8).

Maps are tiny; each expected value is worked out in the comments. Classes: 0 = stuff, 1 = thing
(and 2 = a second thing where needed); ids are arbitrary and differ between gt and prediction.
"""

import math
import unittest

import numpy as np

from vps_d2.evaluation.vpq import SegmentListError, VideoCounter, summarize_vpq, window_frames

from .helpers import count_video, evaluate_videos, fast_stats, frame

ISTHING = [False, True]


def id_switch_video(switch_at=3, num_frames=6):
    """2x4 frames: a thing (id 7) on the left half, stuff (id 1) on the right half. The prediction
    is pixel-perfect, but the thing's id changes from 70 to 71 at frame ``switch_at``."""
    gt = [[7, 7, 1, 1], [7, 7, 1, 1]]
    video = []
    for t in range(num_frames):
        pid = 70 if t < switch_at else 71
        pred = [[pid, pid, 10, 10], [pid, pid, 10, 10]]
        video.append(frame(gt, {7: 1, 1: 0}, pred, {pid: 1, 10: 0}))
    return video


class TestPerfectAndIdSwitch(unittest.TestCase):
    def test_perfect_prediction_is_100_at_every_k(self):
        r = evaluate_videos([id_switch_video(switch_at=99)], ISTHING)
        for k in ("0", "5", "10", "15"):
            self.assertEqual(r["per_k"][k]["VPQ"], 100.0)
            self.assertEqual(r["per_k"][k]["n"], 2)
        self.assertEqual(
            (r["VPQ"], r["VPQ_th"], r["VPQ_st"], r["PQ"]), (100.0, 100.0, 100.0, 100.0)
        )
        self.assertAlmostEqual(r["STQ"], 100.0, places=12)

    def test_id_switch_mid_video(self):
        r = evaluate_videos([id_switch_video(switch_at=3)], ISTHING)
        # Stuff is perfect at every k: PQ_st = 1. The thing tube (4 px per frame), pred ids
        # A (frames 0-2) and B (frames 3-5):
        # k=0: 6 one-frame windows, all TP with IoU 1 -> unchanged, VPQ@0 = 100.
        self.assertEqual(r["per_k"]["0"]["VPQ"], 100.0)
        # k=5: windows (0,1) (1,2) (3,4) (4,5) are TP with IoU 1; window (2,3): gt 8 px, A and B
        #   4 px each, IoU 4/8 = 0.5 is not > 0.5 -> FN 1, FP 2. PQ_th = 4 / (4 + 2/2 + 1/2) = 8/11.
        self.assertAlmostEqual(r["per_k"]["5"]["VPQ_th"], 100 * 8 / 11, places=9)
        self.assertAlmostEqual(r["per_k"]["5"]["VPQ"], 100 * (1 + 8 / 11) / 2, places=9)
        # k=10: (0,1,2) TP 1; (1,2,3) A 8 px of 12: IoU 8/12 = 2/3 TP, B FP; (2,3,4) B 2/3 TP,
        #   A FP; (3,4,5) TP 1. PQ_th = (1 + 2/3 + 2/3 + 1) / (4 + 2/2) = 2/3.
        self.assertAlmostEqual(r["per_k"]["10"]["VPQ_th"], 100 * 2 / 3, places=9)
        # k=15: (0..3) A 12/16 = 0.75 TP, B FP; (1..4) 8/16 = 0.5 -> FN 1, FP 2; (2..5) B 0.75 TP,
        #   A FP. PQ_th = 1.5 / (2 + 4/2 + 1/2) = 1/3.
        self.assertAlmostEqual(r["per_k"]["15"]["VPQ_th"], 100 * 1 / 3, places=9)
        expected_vpq = np.mean([1, (1 + 8 / 11) / 2, (1 + 2 / 3) / 2, (1 + 1 / 3) / 2]) * 100
        self.assertAlmostEqual(r["VPQ"], expected_vpq, places=9)
        self.assertAlmostEqual(r["VPQ_st"], 100.0, places=9)
        per_class = {c["id"]: c for c in r["per_class"]}
        self.assertEqual(per_class[1]["per_k"]["15"]["TP"], 2)
        self.assertEqual(per_class[1]["per_k"]["15"]["FP"], 4)
        self.assertEqual(per_class[1]["per_k"]["15"]["FN"], 1)
        # STQ: one gt track of 24 px, two pred tracks of 12 px inside it:
        # AQ = (1/24)(12*12/24 + 12*12/24) = 1/2; mIoU = 1 -> STQ = sqrt(1/2).
        self.assertAlmostEqual(r["AQ"], 50.0, places=9)
        self.assertAlmostEqual(r["SQ"], 100.0, places=9)
        self.assertAlmostEqual(r["STQ"], 100 * math.sqrt(0.5), places=9)

    def test_windows_longer_than_the_video_add_nothing(self):
        r = evaluate_videos([id_switch_video(switch_at=99, num_frames=2)], ISTHING)
        self.assertEqual(r["per_k"]["5"]["n"], 2)
        self.assertEqual(r["per_k"]["10"]["n"], 0)
        self.assertEqual(r["per_k"]["10"]["VPQ"], 0.0)  # a mean over no class: 0, and n says so


def k0(gt, gt_info, pred, pred_info, isthing=(False, True, True)):
    """Per-class [ΣIoU, TP, FP, FN] of one frame at k = 0."""
    stats, _ = fast_stats([[frame(gt, gt_info, pred, pred_info)]], [1], list(isthing))
    return stats[0]


class TestMatchingRules(unittest.TestCase):
    def test_iou_exactly_half_is_not_a_match(self):
        # gt thing 6 px; pred thing = 3 of them (the other 3 predicted as stuff): IoU 3/6 = 0.5.
        gt = [[5, 5, 5, 5, 5, 5, 1, 1]]
        pred = [[8, 8, 8, 2, 2, 2, 2, 2]]
        st = k0(gt, {5: 1, 1: 0}, pred, {8: 1, 2: 0})
        np.testing.assert_array_equal(st[1], [0, 0, 1, 1])
        # stuff: gt 2 px, pred 5 px (2 shared): IoU 2/5 -> FN + FP
        np.testing.assert_array_equal(st[0], [0, 0, 1, 1])
        # one more pixel: IoU 4/6 > 0.5 -> TP
        pred = [[8, 8, 8, 8, 2, 2, 2, 2]]
        st = k0(gt, {5: 1, 1: 0}, pred, {8: 1, 2: 0})
        np.testing.assert_allclose(st[1], [4 / 6, 1, 0, 0])

    def test_void_pixels_leave_the_union(self):
        # gt thing 4 px; pred thing 6 px: 3 on the thing, 3 on void (id 0).
        # IoU = 3 / (6 + 4 - 3 - 3) = 3/4 (would be 3/7 without the void rule).
        gt = [[5, 5, 5, 5, 0, 0, 0, 1]]
        pred = [[9, 9, 9, 2, 9, 9, 9, 2]]
        st = k0(gt, {5: 1, 1: 0}, pred, {9: 1, 2: 0})
        np.testing.assert_allclose(st[1], [0.75, 1, 0, 0])

    def test_unmatched_prediction_mostly_on_void_is_not_a_false_positive(self):
        gt = [[1, 1, 1, 1, 0, 0, 0, 0]]
        # a thing predicted on 3 void px + 1 stuff px: 3/4 on void > 1/2 -> ignored
        st = k0(gt, {1: 0}, [[2, 2, 2, 9, 9, 9, 9, 0]], {2: 0, 9: 1})
        self.assertEqual(st[1, 2], 0)
        # exactly half on void: counted
        st = k0(gt, {1: 0}, [[2, 2, 9, 9, 9, 9, 0, 0]], {2: 0, 9: 1})
        self.assertEqual(st[1, 2], 1)

    def test_crowd_rules(self):
        # gt: stuff (1), a crowd region of class 1 (id 6, 4 px)
        gt = [[1, 1, 1, 1, 6, 6, 6, 6]]
        info = {1: 0, 6: (1, 1)}
        # a class-1 prediction exactly on the crowd: not a TP (crowd never matches), not a FP
        # (all of it is on crowd of its class), and the crowd is not a FN
        st = k0(gt, info, [[2, 2, 2, 2, 9, 9, 9, 9]], {2: 0, 9: 1})
        np.testing.assert_array_equal(st[1], [0, 0, 0, 0])
        np.testing.assert_array_equal(st[0], [1, 1, 0, 0])
        # the same prediction with class 2: crowd of another class does not excuse it -> FP
        st = k0(gt, info, [[2, 2, 2, 2, 9, 9, 9, 9]], {2: 0, 9: 2})
        np.testing.assert_array_equal(st[2], [0, 0, 1, 0])
        # void + crowd together: 1 px crowd + 2 px void of 4 -> 3/4 ignored -> not a FP
        gt = [[1, 1, 1, 0, 0, 6, 6, 6]]
        st = k0(gt, info, [[2, 2, 9, 9, 9, 9, 2, 2]], {2: 0, 9: 1})
        self.assertEqual(st[1, 2], 0)

    def test_class_absent_from_gt_and_prediction_is_skipped(self):
        video = [frame([[5, 5, 1, 1]], {5: 1, 1: 0}, [[8, 8, 2, 2]], {8: 1, 2: 0})]
        r = evaluate_videos([video], [False, True, True], window_sizes=[0])
        self.assertEqual(r["VPQ"], 100.0)  # 2 classes, not 3
        self.assertEqual(r["per_k"]["0"]["n"], 2)
        self.assertIsNone(r["per_class"][2]["per_k"]["0"])
        self.assertIsNone(r["per_class"][2]["VPQ"])

    def test_empty_prediction(self):
        video = [frame([[5, 5, 1, 1]], {5: 1, 1: 0}, [[0, 0, 0, 0]], {}) for _ in range(4)]
        r = evaluate_videos([video], ISTHING)
        for k in ("0", "5", "10", "15"):
            self.assertEqual(r["per_k"][k]["VPQ"], 0.0)
            self.assertEqual(r["per_k"][k]["n"], 2)
        self.assertEqual(r["per_class"][1]["per_k"]["0"]["FN"], 4)
        self.assertEqual((r["STQ"], r["AQ"], r["SQ"]), (0.0, 0.0, 0.0))

    def test_empty_dataset_has_no_division_by_zero(self):
        summary = summarize_vpq(np.zeros((2, 3, 4)), [0, 5], [False, True, True])
        self.assertEqual((summary["VPQ"], summary["per_k"][0]["n"]), (0.0, 0))

    def test_stuff_only_scene(self):
        video = [
            frame([[1, 1, 3, 3]], {1: 0, 3: 2}, [[4, 4, 6, 6]], {4: 0, 6: 2}) for _ in range(3)
        ]
        r = evaluate_videos([video], [False, True, False])
        self.assertEqual((r["VPQ"], r["VPQ_st"], r["VPQ_th"]), (100.0, 100.0, 0.0))
        self.assertEqual(r["per_k"]["0"]["n_th"], 0)
        # 3 frames: no 4-frame window, so k = 15 has no class and stays out of the mean over k
        self.assertEqual((r["per_k"]["15"]["VPQ"], r["per_k"]["15"]["n"]), (0.0, 0))
        self.assertEqual(r["AQ"], 0.0)  # no thing track

    def test_tube_class_comes_from_its_first_frame(self):
        # the pred id's class is 1 in frame 0 and 2 in frame 1: the 2-frame tube is class 1 and
        # matches; one-frame windows: TP in frame 0, FN+FP in frame 1.
        f0 = frame([[5, 5, 1, 1]], {5: 1, 1: 0}, [[8, 8, 2, 2]], {8: 1, 2: 0})
        f1 = frame([[5, 5, 1, 1]], {5: 1, 1: 0}, [[8, 8, 2, 2]], {8: 2, 2: 0})
        stats, _ = fast_stats([[f0, f1]], [1, 2], [False, True, True])
        np.testing.assert_array_equal(stats[0, 1], [1, 1, 0, 1])
        np.testing.assert_array_equal(stats[0, 2], [0, 0, 1, 0])
        np.testing.assert_array_equal(stats[1, 1], [1, 1, 0, 0])


class TestStq(unittest.TestCase):
    def test_semantic_and_association_terms(self):
        # gt [stuff, stuff, thing, thing]; pred [stuff, stuff, stuff, thing]
        # IoU stuff = 2/3, thing = 1/2 -> mIoU = 7/12; AQ = (1/2)(1*1/(1+2-1)) = 1/4.
        video = [frame([[1, 1, 5, 5]], {1: 0, 5: 1}, [[2, 2, 2, 8]], {2: 0, 8: 1})]
        r = evaluate_videos([video], ISTHING, window_sizes=[0])
        self.assertAlmostEqual(r["SQ"], 100 * 7 / 12, places=9)
        self.assertAlmostEqual(r["AQ"], 25.0, places=9)
        self.assertAlmostEqual(r["STQ"], 100 * math.sqrt(7 / 48), places=9)
        self.assertAlmostEqual(r["per_class"][0]["IoU"], 100 * 2 / 3, places=9)

    def test_void_counts_in_the_predicted_track_crowd_does_not(self):
        # gt: thing (5) 2 px, void 1 px, crowd thing (6) 1 px; pred one thing over all 4 px.
        # |p| = 3 (the crowd pixel is left out), |g| = 2, |p∩g| = 2 -> AQ = (1/2)(2*2/3) = 2/3.
        video = [frame([[5, 5, 0, 6]], {5: 1, 6: (1, 1)}, [[8, 8, 8, 8]], {8: 1})]
        r = evaluate_videos([video], ISTHING, window_sizes=[0])
        self.assertAlmostEqual(r["AQ"], 100 * 2 / 3, places=9)
        # semantic: gt class-1 pixels 3 (incl. crowd), all predicted class 1; void ignored
        self.assertAlmostEqual(r["SQ"], 100.0, places=9)

    def test_crowd_on_stuff_does_not_shrink_the_predicted_track(self):
        # Issue 14 item 3. gt row 0: stuff (1) marked iscrowd; row 1: thing (2). pred: a thing (3)
        # on 2 px of row 0 and all of row 1; void on the rest of row 0.
        # Only thing segments are crowd (deeplab2), so |p| = 6, |g| = 4, |p∩g| = 4:
        # AQ = (1/4)(4*4/6) = 2/3 (it was 1 when the stuff crowd pixels left |p|).
        # Semantic: stuff row: 0 right, 2 px thing, 2 px void -> IoU 0/(4) = 0;
        # thing: tp 4, union 4 + 6 - 4 = 6 -> 2/3.
        # paper SQ = (0 + 2/3)/2 = 1/3; deeplab2 adds void (2 labelled px predicted void) as a
        # class of IoU 0: SQ = (0 + 2/3 + 0)/3 = 2/9.
        video = [frame([[1, 1, 1, 1], [2, 2, 2, 2]], {1: (0, 1), 2: 1},
                       [[3, 3, 0, 0], [3, 3, 3, 3]], {3: 1})]
        paper = evaluate_videos([video], ISTHING, window_sizes=[0])
        deeplab2 = evaluate_videos([video], ISTHING, window_sizes=[0], stq_convention="deeplab2")
        for r in (paper, deeplab2):
            self.assertAlmostEqual(r["AQ"], 100 * 2 / 3, places=9)
        self.assertAlmostEqual(paper["SQ"], 100 / 3, places=9)
        self.assertAlmostEqual(paper["STQ"], 100 * math.sqrt(2 / 9), places=9)
        self.assertAlmostEqual(deeplab2["SQ"], 100 * 2 / 9, places=9)
        self.assertAlmostEqual(deeplab2["STQ"], 100 * math.sqrt(4 / 27), places=9)
        self.assertEqual(deeplab2["stq_convention"], "deeplab2")

    def test_conventions_agree_without_predicted_void(self):
        video = [frame([[1, 1, 5, 5]], {1: 0, 5: 1}, [[2, 2, 2, 8]], {2: 0, 8: 1})]
        paper = evaluate_videos([video], ISTHING, window_sizes=[0])
        deeplab2 = evaluate_videos([video], ISTHING, window_sizes=[0], stq_convention="deeplab2")
        self.assertEqual(paper["SQ"], deeplab2["SQ"])

    def test_an_excluded_class_stays_in_sq(self):
        # VIPER's excluded class leaves the VPQ means only: no official STQ tool excludes a class.
        # gt [stuff, stuff, thing, thing] predicted perfectly except the stuff as void: stuff IoU
        # 0, thing 1 -> SQ 1/2 with or without class 0 excluded.
        video = [frame([[1, 1, 5, 5]], {1: 0, 5: 1}, [[0, 0, 8, 8]], {8: 1})]
        r = evaluate_videos([video], ISTHING, window_sizes=[0], excluded=[0])
        self.assertAlmostEqual(r["SQ"], 50.0, places=9)


class TestViperOptions(unittest.TestCase):
    def test_min_gt_area_uses_the_tube_area(self):
        # a 3 px thing in each of 2 frames, predicted perfectly. With min area 4: alone in a frame
        # it is ignored (no FN) and its prediction is a FP; the 2-frame tube has 6 px and matches.
        f = frame(
            [[5, 5, 5, 1, 1, 1, 1, 1]], {5: 1, 1: 0}, [[8, 8, 8, 2, 2, 2, 2, 2]], {8: 1, 2: 0}
        )
        stats, _ = fast_stats([[f, f]], [1, 2], ISTHING, min_gt_area=4)
        np.testing.assert_array_equal(stats[0, 1], [0, 0, 2, 0])
        np.testing.assert_array_equal(stats[1, 1], [1, 1, 0, 0])

    def test_excluded_category_leaves_the_means(self):
        video = [frame([[5, 5, 1, 1]], {5: 1, 1: 0}, [[0, 0, 2, 2]], {2: 0})]
        r = evaluate_videos([video], ISTHING, window_sizes=[0], excluded=[1])
        self.assertEqual((r["VPQ"], r["per_k"]["0"]["n"]), (100.0, 1))
        self.assertTrue(r["per_class"][1]["excluded"])
        self.assertEqual(r["per_class"][1]["per_k"]["0"]["FN"], 1)  # still reported

    def test_dense_windows(self):
        # λ = 1 and k = 0, 4, 9, 14: windows of 1, 5, 10, 15 frames; a 15-frame video has
        # 15, 11, 6 and 1 of them.
        self.assertEqual([window_frames(k, 1) for k in (0, 4, 9, 14)], [1, 5, 10, 15])
        video = id_switch_video(switch_at=99, num_frames=15)
        r = evaluate_videos([video], ISTHING, window_sizes=[0, 4, 9, 14], stride=1)
        self.assertEqual(
            [r["per_class"][1]["per_k"][k]["TP"] for k in ("0", "4", "9", "14")], [15, 11, 6, 1]
        )
        self.assertEqual(r["VPQ"], 100.0)

    def test_window_must_be_a_multiple_of_the_stride(self):
        with self.assertRaisesRegex(ValueError, "multiple of the stride"):
            window_frames(7, 5)


class TestSegmentChecks(unittest.TestCase):
    def test_map_and_list_must_agree(self):
        gt = [[5, 5, 1, 1]]
        with self.assertRaises(SegmentListError) as e:
            count_video([frame(gt, {5: 1, 1: 0}, [[8, 8, 3, 3]], {8: 1})], 2)
        self.assertEqual((e.exception.kind, e.exception.segment_id), ("unlisted", 3))
        with self.assertRaises(SegmentListError) as e:
            count_video([frame(gt, {5: 1, 1: 0}, [[8, 8, 8, 8]], {8: 1, 4: 0})], 2)
        self.assertEqual((e.exception.kind, e.exception.segment_id), ("absent", 4))
        # model outputs (strict=False): a listed segment without pixels is dropped
        tables = count_video(
            [frame(gt, {5: 1, 1: 0}, [[8, 8, 8, 8]], {8: 1, 4: 0})], 2, strict=False
        )
        self.assertEqual(int((tables.pred_cat >= 0).sum()), 1)

    def test_size_and_class_checks(self):
        counter = VideoCounter([[(5, 1, 0)]], [[(8, 1)]], 2)
        with self.assertRaises(SegmentListError) as e:
            counter.add_frame(0, np.zeros((2, 4), np.int64), np.zeros((2, 3), np.int64))
        self.assertEqual(e.exception.kind, "size")
        with self.assertRaisesRegex(ValueError, "class 7"):
            VideoCounter([[(5, 1, 0)]], [[(8, 7)]], 2)

    def test_ids_beyond_24_bits(self):
        # in-memory predictions may use any int64 id: same result as small ids
        small = frame([[5, 5, 1, 1]], {5: 1, 1: 0}, [[8, 8, 2, 2]], {8: 1, 2: 0})
        big = frame([[5, 5, 1, 1]], {5: 1, 1: 0}, [[2**40, 2**40, 2, 2]], {2**40: 1, 2: 0})
        a, _ = fast_stats([[small]], [1], ISTHING)
        b, _ = fast_stats([[big]], [1], ISTHING)
        np.testing.assert_array_equal(a, b)
