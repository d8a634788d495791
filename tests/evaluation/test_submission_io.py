"""Submission files: round trip, the released form, the offline CLI, and clear errors."""

import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np

from vps_d2.data.panoptic_io import read_panoptic_png, write_panoptic_png
from vps_d2.evaluation.__main__ import main as cli_main
from vps_d2.evaluation.scoring import score_submission
from vps_d2.evaluation.submission_io import EvaluationInputError, decode_panoptic_png

from .dataset_files import CATEGORIES, write_gt_split, write_submission
from .helpers import evaluate_videos
from .synthetic_videos import ISTHING, random_videos

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class SubmissionCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vps_d2_eval_")
        self.videos = [v for s in (1, 2) for v in random_videos(s, num_videos=2)]
        self.gt = write_gt_split(self.tmp, "val", self.videos)
        self.pred = write_submission(os.path.join(self.tmp, "sub"), self.videos)
        self.expected = evaluate_videos(self.videos, ISTHING)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def score(self, **kw):
        return score_submission(
            self.gt["gt_json"],
            self.gt["gt_dir"],
            self.pred["pred_json"],
            self.pred["pred_dir"],
            progress=False,
            **kw
        )

    def pred_json(self):
        with open(self.pred["pred_json"]) as fh:
            return json.load(fh)

    def rewrite_pred_json(self, obj):
        with open(self.pred["pred_json"], "w") as fh:
            json.dump(obj, fh)


class TestSubmissionFiles(SubmissionCase):
    def test_round_trip(self):
        ann = self.pred_json()["annotations"][0]
        fr = self.videos[0][0]
        ids = read_panoptic_png(os.path.join(self.pred["pred_dir"], ann["file_name"]))
        np.testing.assert_array_equal(ids, fr["pred"])
        np.testing.assert_array_equal(
            decode_panoptic_png(os.path.join(self.pred["pred_dir"], ann["file_name"])), fr["pred"]
        )
        self.assertEqual(ann["image_id"], "0001_0005_city_000001_000005")
        seg = {s["id"]: s for s in ann["segments_info"]}
        for s in fr["pred_segments"]:
            self.assertEqual(seg[s["id"]]["category_id"], CATEGORIES[s["category_id"]]["id"])
            ys, xs = np.nonzero(fr["pred"] == s["id"])
            self.assertEqual(seg[s["id"]]["area"], ys.size)
            self.assertEqual(
                seg[s["id"]]["bbox"],
                [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1],
            )

    def test_score_equals_in_memory_metrics(self):
        report = self.score()
        for key in ("VPQ", "VPQ_th", "VPQ_st", "STQ", "AQ", "SQ"):
            self.assertAlmostEqual(report[key], self.expected[key], delta=1e-9)
        self.assertEqual(report["num_frames"], sum(len(v) for v in self.videos))
        self.assertEqual([c["id"] for c in report["per_class"]], [c["id"] for c in CATEGORIES])
        with_workers = self.score(workers=2)
        self.assertEqual(with_workers["VPQ"], report["VPQ"])

    def test_released_form_paired_by_order(self):
        # the released pred.json: no image_id / file_name, annotations in ground-truth order,
        # PNGs named <gt image id>.png
        obj = self.pred_json()
        with open(self.gt["gt_json"]) as fh:
            gt_order = [a["image_id"] for a in json.load(fh)["annotations"]]
        by_id = {a["image_id"]: a for a in obj["annotations"]}
        released = [{"segments_info": by_id[i]["segments_info"]} for i in gt_order]
        self.rewrite_pred_json({"annotations": released})
        with self.assertLogs("vps_d2.evaluation.submission_io", logging.WARNING) as logs:
            report = self.score()
        self.assertIn("by order", logs.output[0])
        self.assertAlmostEqual(report["VPQ"], self.expected["VPQ"], delta=1e-9)

    def test_frames_grouped_by_video_in_any_json_order(self):
        obj = self.pred_json()
        obj["annotations"].reverse()
        self.rewrite_pred_json(obj)
        self.assertAlmostEqual(self.score()["VPQ"], self.expected["VPQ"], delta=1e-9)


class TestBadSubmissions(SubmissionCase):
    def first(self):
        obj = self.pred_json()
        ann = obj["annotations"][0]
        return obj, ann, os.path.join(self.pred["pred_dir"], ann["file_name"])

    def assertError(self, *fragments):
        with self.assertRaises(EvaluationInputError) as e:
            self.score()
        msg = str(e.exception)
        self.assertNotIn("\n", msg)
        for frag in fragments:
            self.assertIn(str(frag), msg)
        return msg

    def test_png_id_missing_from_json(self):
        obj, ann, png = self.first()
        dropped = ann["segments_info"].pop(0)
        self.rewrite_pred_json(obj)
        self.assertError(png, dropped["id"], "pred.json")

    def test_json_id_missing_from_png(self):
        obj, ann, png = self.first()
        ann["segments_info"].append({"id": 4242, "category_id": CATEGORIES[0]["id"]})
        self.rewrite_pred_json(obj)
        self.assertError("pred.json", 4242, png)

    def test_unknown_category(self):
        obj, ann, _ = self.first()
        ann["segments_info"][0]["category_id"] = 999
        self.rewrite_pred_json(obj)
        self.assertError("pred.json", ann["segments_info"][0]["id"], "999", ann["image_id"])

    def test_missing_frame(self):
        obj, ann, _ = self.first()
        obj["annotations"].pop(0)
        self.rewrite_pred_json(obj)
        self.assertError("pred.json", ann["image_id"])

    def test_missing_png(self):
        _, _, png = self.first()
        os.remove(png)
        self.assertError(png, "not found")

    def test_size_mismatch(self):
        _, ann, png = self.first()
        write_panoptic_png(png, read_panoptic_png(png)[:, :-1])
        self.assertError(png, "size", ann["image_id"])

    def test_unreadable_png(self):
        _, _, png = self.first()
        with open(png, "wb") as fh:
            fh.write(b"not a png")
        self.assertError(png, "not a PNG file, expected an 8-bit RGB panoptic PNG")


class TestCommandLine(SubmissionCase):
    def run_cli(self, *extra):
        cmd = [
            sys.executable,
            "-m",
            "vps_d2.evaluation",
            "--gt-json",
            self.gt["gt_json"],
            "--gt-dir",
            self.gt["gt_dir"],
            "--pred-json",
            self.pred["pred_json"],
            "--pred-dir",
            self.pred["pred_dir"],
            "--no-progress",
            *extra,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)

    def test_end_to_end(self):
        out = os.path.join(self.tmp, "report.json")
        plots = os.path.join(self.tmp, "plots")
        res = self.run_cli("--json-out", out, "--workers", "2", "--plot-dir", plots)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("VPQ", res.stdout)
        with open(out) as fh:
            report = json.load(fh)
        self.assertAlmostEqual(report["VPQ"], self.expected["VPQ"], delta=1e-9)
        self.assertEqual(set(report["per_k"]), {"0", "5", "10", "15"})
        for key in ("VPQ", "VPQ_th", "VPQ_st"):
            self.assertAlmostEqual(
                report["per_k"]["5"][key], self.expected["per_k"]["5"][key], delta=1e-9
            )
        for key in ("STQ", "AQ", "SQ", "per_class"):
            self.assertIn(key, report)
        self.assertTrue(os.path.getsize(os.path.join(plots, "vpq_vs_k.png")) > 0)
        self.assertTrue(os.path.getsize(os.path.join(plots, "vpq_per_class.png")) > 0)

    def run_main(self, *extra):
        """The CLI in this process (faster than a subprocess): (exit code, stdout, stderr)."""
        argv = [
            "--gt-json",
            self.gt["gt_json"],
            "--gt-dir",
            self.gt["gt_dir"],
            "--pred-json",
            self.pred["pred_json"],
            "--pred-dir",
            self.pred["pred_dir"],
            "--no-progress",
            *extra,
        ]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli_main(argv)
        return code, out.getvalue(), err.getvalue()

    def test_viper_options(self):
        out = os.path.join(self.tmp, "report.json")
        code, _, err = self.run_main(
            "--json-out",
            out,
            "--exclude-categories",
            str(CATEGORIES[1]["id"]),
            "--min-gt-area",
            "30",
            "--windows",
            "0",
            "5",
        )
        self.assertEqual(code, 0, err)
        with open(out) as fh:
            report = json.load(fh)
        self.assertEqual(list(report["per_k"]), ["0", "5"])
        self.assertTrue(report["per_class"][1]["excluded"])

    def test_bad_submission_is_one_line_without_traceback(self):
        obj = self.pred_json()
        obj["annotations"][0]["segments_info"].pop(0)
        self.rewrite_pred_json(obj)
        res = self.run_cli()
        self.assertNotEqual(res.returncode, 0)
        self.assertNotIn("Traceback", res.stderr)
        # (other lines may only be import-time warnings of third-party libraries)
        lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
        self.assertEqual(len(lines), 1, res.stderr)
        self.assertEqual(res.stderr.strip().splitlines()[-1], lines[0])
        self.assertIn(obj["annotations"][0]["file_name"], lines[0])

    def test_bad_arguments(self):
        code, _, err = self.run_main("--windows", "7")
        self.assertEqual(code, 1)
        self.assertEqual(
            err.strip(), "error: window size k=7 must be a non-negative multiple of the stride λ=5"
        )
        code, _, err = self.run_main("--exclude-categories", "12345")
        self.assertEqual(code, 1)
        self.assertIn("12345", err)
