"""Benchmark presets of ``python -m vps_d2.evaluation`` (issue 14): hand-made cases in each
benchmark's official layout, with the expected numbers derived in the comments, and one-line errors
for malformed official files."""

import contextlib
import io
import json
import math
import os
import shutil
import tempfile
import unittest

import numpy as np
from PIL import Image

from vps_d2.evaluation.__main__ import main as score_main
from vps_d2.evaluation.step_io import write_step_png
from vps_d2.utils.panoptic_ids import id_to_rgb

from .dataset_files import write_gt_split, write_submission
from .helpers import frame

R, C, P, V = 0, 13, 11, 255  # KITTI-STEP road (stuff), car, person (things), void


def run_scorer(argv):
    """(exit code, report or None, stderr) of the scorer CLI."""
    err = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        out = os.path.join(tmp, "report.json")
        code = score_main(argv + ["--no-progress", "--workers", "1", "--json-out", out])
        report = None
        if code == 0:
            with open(out) as f:
                report = json.load(f)
    return code, report, err.getvalue().strip()


def write_rgb_ids(path, ids):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(id_to_rgb(np.asarray(ids))).save(path)


def write_step(path, pixels):
    """A 1xW STEP PNG from [(class, instance), ...]."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arr = np.array(pixels, np.int64).reshape(1, -1, 2)
    write_step_png(path, arr[..., 0], arr[..., 1])


class PresetCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vps_d2_presets_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)


class TestCityscapesVps(PresetCase):
    def test_id_switch_by_hand(self):
        # 4 annotated frames of 1x4: a thing (class 3, gt id 7) on the left, stuff (class 0) on the
        # right; the prediction is exact but the thing's id switches 70 -> 71 at frame 2.
        # k = 0: all TP -> 1.  k = 5 (2 frames): windows 01 and 23 TP; 12: IoU 2/4 not > 1/2 ->
        #   FN + 2 FP: thing 2/(2 + 1 + 1/2) = 4/7 -> VPQ^5 = (4/7 + 1)/2 = 11/14.
        # k = 10 (3 frames): each window one TP of IoU 4/6 and one FP: (4/3)/(2 + 1) = 4/9 ->
        #   13/18.  k = 15: 4/8 not > 1/2: FN + 2 FP -> 0 -> 1/2.
        # VPQ = (1 + 11/14 + 13/18 + 1/2)/4 = 379/504.
        video = []
        for t in range(4):
            pid = 70 if t < 2 else 71
            video.append(frame([[7, 7, 1, 1]], {7: 3, 1: 0}, [[pid, pid, 10, 10]], {pid: 3, 10: 0}))
        gt = write_gt_split(self.path("gt"), "val", [video])
        sub = write_submission(self.path("sub"), [video])
        code, r, err = run_scorer(["--preset", "cityscapes-vps", "--gt-json", gt["gt_json"],
                                   "--gt-dir", gt["gt_dir"], "--pred-json", sub["pred_json"],
                                   "--pred-dir", sub["pred_dir"]])
        self.assertEqual(code, 0, err)
        self.assertEqual((r["window_sizes"], r["stride"], r["stq_convention"]),
                         ([0, 5, 10, 15], 5, "paper"))
        for k, expected in (("0", 1), ("5", 11 / 14), ("10", 13 / 18), ("15", 1 / 2)):
            self.assertAlmostEqual(r["per_k"][k]["VPQ"], 100 * expected, delta=1e-6, msg=k)
        self.assertAlmostEqual(r["VPQ"], 100 * 379 / 504, delta=1e-6)


class TestViper(PresetCase):
    def test_rules_by_hand(self):
        # One 32x64 frame, VIPER ids: sky (0) 32x32, mobilebarrier (11, excluded) 32x24, car (19)
        # 32x8 = 256 px < 32² (ignored: no FN, its exact prediction is a FP). Predicted exactly.
        # VPQ^0 = mean(sky 1, car 0) = 1/2 (class 11 left out); SQ = 1 (all three classes exact,
        # none excluded from SQ); AQ = 1 (STQ has no area rule).
        cats = [{"id": c, "name": f"c{c}", "isthing": int(c >= 13)} for c in range(23)]
        gt_ids = np.zeros((32, 64), np.int64)
        gt_ids[:, :32], gt_ids[:, 32:56], gt_ids[:, 56:] = 1, 2, 3
        write_rgb_ids(self.path("gt", "0001_0001_viper_001_00001.png"), gt_ids)
        write_rgb_ids(self.path("pred", "0001_0001_viper_001_00001.png"), gt_ids * 10)
        gt = {"images": [], "categories": cats, "annotations": [
            {"image_id": "0001_0001_viper_001_00001", "file_name": "0001_0001_viper_001_00001.png",
             "segments_info": [{"id": 1, "category_id": 0}, {"id": 2, "category_id": 11},
                               {"id": 3, "category_id": 19}]}]}
        pred = {"annotations": [{"image_id": "0001_0001_viper_001_00001", "segments_info": [
            {"id": 10, "category_id": 0}, {"id": 20, "category_id": 11},
            {"id": 30, "category_id": 19}]}]}
        for name, obj in (("gt.json", gt), ("pred.json", pred)):
            with open(self.path(name), "w") as f:
                json.dump(obj, f)
        code, r, err = run_scorer(["--preset", "viper", "--gt-json", self.path("gt.json"),
                                   "--gt-dir", self.path("gt"), "--pred-json",
                                   self.path("pred.json"), "--pred-dir", self.path("pred")])
        self.assertEqual(code, 0, err)
        self.assertEqual((r["window_sizes"], r["stride"]), ([0, 4, 9, 14], 1))
        self.assertEqual((r["VPQ"], r["VPQ_th"], r["VPQ_st"]), (50.0, 0.0, 100.0))
        self.assertTrue(r["per_class"][11]["excluded"])
        self.assertEqual((r["SQ"], r["AQ"]), (100.0, 100.0))


class TestKittiStep(PresetCase):
    """One sequence of 3 frames, 1x6 pixels; ``(class, instance)``, instance 0 on a thing = crowd.

    ground truth                                  prediction
    t0  R   R   C1  C1  P0  V                     R   R   C5  C5  P7  R     (P7 on the crowd)
    t1  R   R   R   R   P2  P2  (the car leaves)  R   R   R   C5  P7  V     (void on a person)
    t2  R   R   C1  C1  P2  V   (and returns)     R   R   C6  C6  C8  V     (id switch, class flip)
    """

    def write(self):
        gt = [[(R, 0), (R, 0), (C, 1), (C, 1), (P, 0), (V, 0)],
              [(R, 0), (R, 0), (R, 0), (R, 0), (P, 2), (P, 2)],
              [(R, 0), (R, 0), (C, 1), (C, 1), (P, 2), (V, 0)]]
        pred = [[(R, 0), (R, 0), (C, 5), (C, 5), (P, 7), (R, 0)],
                [(R, 0), (R, 0), (R, 0), (C, 5), (P, 7), (V, 0)],
                [(R, 0), (R, 0), (C, 6), (C, 6), (C, 8), (V, 0)]]
        for t in range(3):
            write_step(self.path("gt", "0002", f"{t:06d}.png"), gt[t])
            write_step(self.path("pred", "0002", f"{t:06d}.png"), pred[t])
        return ["--preset", "kitti-step", "--gt-dir", self.path("gt"), "--pred-dir",
                self.path("pred")]

    def test_stq_by_hand(self):
        # Semantic (ground-truth void ignored; the crowd pixel is labelled person):
        #   road: 7 of 8 right, 1 called car -> 7/8; car: tp 4, column 1 + 4 + 1 = 6 -> 4/6;
        #   person: tp 2 of 4 (1 car, 1 void), column 2 -> 2/4; one labelled pixel predicted void
        #   -> deeplab2 adds void as a class of IoU 0: SQ = (7/8 + 2/3 + 1/2 + 0)/4 = 49/96
        #   (paper: 49/72).
        # Association: car C1 |g| = 4 (t0, t2); person P2 |g| = 3; the crowd P0 is no track.
        #   |C5| = 3, |P7| = 1 (its crowd pixel left out), |C6| = 2, |C8| = 1 (class flip: any thing
        #   prediction associates).
        #   C1: C5 2²/(3+4-2) + C6 2²/(2+4-2) = 4/5 + 1 -> /4 = 9/20;
        #   P2: P7 1/(1+3-1) + C8 1/(1+3-1) = 2/3 -> /3 = 2/9.   AQ = (9/20 + 2/9)/2 = 121/360.
        code, r, err = run_scorer(self.write())
        self.assertEqual(code, 0, err)
        self.assertAlmostEqual(r["AQ"], 100 * 121 / 360, delta=1e-6)
        self.assertAlmostEqual(r["SQ"], 100 * 49 / 96, delta=1e-6)
        self.assertAlmostEqual(r["STQ"], 100 * math.sqrt(121 / 360 * 49 / 96), delta=1e-6)
        self.assertEqual((r["stq_convention"], r["window_sizes"], r["stride"]),
                         ("deeplab2", [0, 1, 2, 3], 1))
        code, r, err = run_scorer(self.write() + ["--stq-convention", "paper"])
        self.assertAlmostEqual(r["SQ"], 100 * 49 / 72, delta=1e-6)

    def test_one_line_errors(self):
        argv = self.write()
        write_step(self.path("pred", "0002", "000001.png"), [(40, 0)] * 6)
        code, _, err = run_scorer(argv)
        self.assertEqual(code, 1)
        self.assertEqual(err, f"error: {self.path('pred', '0002', '000001.png')}: class 40 in the "
                              "red channel, expected 0..18 or 255 (void)")
        os.remove(self.path("pred", "0002", "000002.png"))
        code, _, err = run_scorer(argv)
        self.assertRegex(err, r"^error: .*pred/0002/000002.png: file not found \(1 frame\(s\) of "
                              r"sequence '0002' have no prediction\)$")


class TestVipseg(PresetCase):
    """One video of 2 frames, 1x4 pixels, VIPSeg category ids: 0 wall (stuff), 2 door, 4 ladder.

    ground truth (ids)                      prediction
    t0  W   D1  D1  L1                      w   d9  d9  d9      (d9 also covers the ladder)
    t1  W   W   D1  void                    w   w   d8  d8      (id switch 9 -> 8; d8 on void)
    """

    def write(self):
        gt = {"videos": [{"video_id": "v1", "images": [{"id": "000", "file_name": "000.png"},
                                                        {"id": "001", "file_name": "001.png"}]}],
              "annotations": [{"video_id": "v1", "annotations": [
                  {"image_id": "000", "file_name": "000.png", "segments_info": [
                      {"id": 100, "category_id": 0, "iscrowd": 0},
                      {"id": 200, "category_id": 2, "iscrowd": 0},
                      {"id": 300, "category_id": 4, "iscrowd": 0}]},
                  {"image_id": "001", "file_name": "001.png", "segments_info": [
                      {"id": 100, "category_id": 0, "iscrowd": 0},
                      {"id": 200, "category_id": 2, "iscrowd": 0}]}]}],
              "categories": [{"id": i, "name": f"c{i}", "isthing": int(i in (2, 4))}
                             for i in range(124)]}
        pred = {"annotations": [{"video_id": "v1", "annotations": [
            {"segments_info": [{"id": 11, "category_id": 0}, {"id": 9, "category_id": 2}]},
            {"segments_info": [{"id": 11, "category_id": 0}, {"id": 8, "category_id": 2}]}]}]}
        write_rgb_ids(self.path("gt", "v1", "000.png"), [[100, 200, 200, 300]])
        write_rgb_ids(self.path("gt", "v1", "001.png"), [[100, 100, 200, 0]])
        write_rgb_ids(self.path("pred", "v1", "000.png"), [[11, 9, 9, 9]])
        write_rgb_ids(self.path("pred", "v1", "001.png"), [[11, 11, 8, 8]])
        for name, obj in (("gt.json", gt), ("pred.json", pred)):
            with open(self.path(name), "w") as f:
                json.dump(obj, f)
        return ["--preset", "vipseg", "--gt-json", self.path("gt.json"), "--gt-dir",
                self.path("gt"), "--pred-json", self.path("pred.json"), "--pred-dir",
                self.path("pred")]

    def test_vpq_and_stq_by_hand(self):
        # k = 0 (1-frame windows): t0 wall IoU 1; door D1/d9: 2/(3+2-2) = 2/3 > 0.5 TP; ladder FN.
        #   t1 wall IoU 1; door D1/d8: 1/(2+1-1-1 on void) = 1 TP. wall 2/2 = 1, door (5/3)/2 = 5/6,
        #   ladder 0 -> VPQ^0 = (1 + 5/6 + 0)/3 = 11/18.
        # k = 1 (2-frame window): wall tube IoU 1; door tube (3 px) vs d9 (3 px): 2/(3+3-2) = 1/2,
        #   not > 1/2; vs d8: 1/(2+3-1-1) = 1/3: door FN 1, FP 2 (d8: half on void is not more
        #   than half) -> 0; ladder 0 -> VPQ^1 = 1/3.
        # k = 3, 5, 7 need 4, 6, 8 frames: no window, no class; VPQ = (11/18 + 1/3)/2 = 17/36.
        #   (eval_vpq_vspw.py would divide by zero there; such short videos are not in VIPSeg.)
        # STQ: wall IoU 1; door tp 3, column 3 + 1 (the ladder pixel) = 4 -> 3/4; ladder 0;
        #   no labelled pixel predicted void: SQ = 7/12. Tracks: D1 (3 px) with d9 (3 px, inter 2)
        #   and d8 (2 px, inter 1): (4/4 + 1/4)/3 = 5/12; L1 (1 px) with d9: (1/3)/1.
        #   AQ = (5/12 + 1/3)/2 = 3/8.
        code, r, err = run_scorer(self.write())
        self.assertEqual(code, 0, err)
        self.assertEqual(list(r["per_k"]), ["0", "1", "3", "5", "7"])
        self.assertAlmostEqual(r["per_k"]["0"]["VPQ"], 100 * 11 / 18, delta=1e-6)
        self.assertAlmostEqual(r["per_k"]["0"]["VPQ_th"], 100 * 5 / 12, delta=1e-6)
        self.assertAlmostEqual(r["per_k"]["1"]["VPQ"], 100 / 3, delta=1e-6)
        self.assertEqual(r["per_k"]["3"]["n"], 0)
        self.assertAlmostEqual(r["VPQ"], 100 * 17 / 36, delta=1e-6)
        self.assertAlmostEqual(r["SQ"], 100 * 7 / 12, delta=1e-6)
        self.assertAlmostEqual(r["AQ"], 100 * 3 / 8, delta=1e-6)
        self.assertAlmostEqual(r["STQ"], 100 * math.sqrt(7 / 32), delta=1e-6)

    def test_one_line_errors(self):
        argv = self.write()
        with open(self.path("pred.json"), "w") as f:
            json.dump({"annotations": [{"video_id": "v2", "annotations": []}]}, f)
        self.assertEqual(run_scorer(argv)[2],
                         f"error: {self.path('pred.json')}: no prediction for video 'v1'")
        with open(self.path("gt.json"), "w") as f:
            json.dump({"annotations": []}, f)
        self.assertEqual(run_scorer(argv)[2], f"error: {self.path('gt.json')}: no 'videos' field, "
                                              "expected VIPSeg's per-video panoptic JSON")
        code, _, err = run_scorer(["--preset", "vipseg", "--gt-dir", ".", "--pred-dir", "."])
        self.assertEqual((code, err), (1, "error: --gt-json is required (except with --preset "
                                          "kitti-step)"))


if __name__ == "__main__":
    unittest.main()
