"""``train_net.py --eval-only`` on tiny KITTI-STEP and VIPSeg releases prepared by their converters
(issue 14): it prints VPQ and STQ with the benchmark's settings, writes the predictions in the
benchmark's official layout, and the offline scorer reading those files with the benchmark's
preset gives the same numbers."""
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from vps_d2.data.datasets.cityscapes_vps import split_paths
from vps_d2.evaluation.__main__ import main as score_main

from .common import CONFIGS, REPO
from .data.benchmark_fixtures import write_kitti_step_release, write_vipseg_release

sys.path.insert(0, os.path.join(REPO, "datasets"))
import prepare_kitti_step  # noqa: E402
import prepare_vipseg  # noqa: E402

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
KEYS = ("VPQ", "VPQ_th", "VPQ_st", "STQ", "AQ", "SQ")


def quietly(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return fn(*args)


class TestBenchmarkEvalOnly(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vps_d2_bench_eval_")
        self.data = os.path.join(self.tmp, "data")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def eval_only(self, dataset, things, classes):
        """Run train_net.py --eval-only on ``dataset``; returns (stdout + stderr, results dir)."""
        out = os.path.join(self.tmp, "out")
        argv = [sys.executable, os.path.join(REPO, "train_net.py"), "--config-file", TINY,
                "--eval-only", "OUTPUT_DIR", out, "DATALOADER.NUM_WORKERS", "0",
                "DATASETS.TRAIN", f"('{dataset}',)", "DATASETS.TEST", f"('{dataset}',)",
                "MODEL.ROI_HEADS.NUM_CLASSES", str(things), "MODEL.SEM_SEG_HEAD.NUM_CLASSES",
                str(classes), "TEST.VPQ.WRITE_SUBMISSION", "True"]
        env = dict(os.environ, DETECTRON2_DATASETS=self.data, OMP_NUM_THREADS="1")
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=900)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        return proc.stdout + proc.stderr, os.path.join(out, "inference", dataset)

    def assert_scored_alike(self, log, results, scorer_argv):
        self.assertIn("STQ", log)
        self.assertIn("VPQ", log)
        with open(os.path.join(results, "vpq_results.json")) as f:
            evaluated = json.load(f)
        report = os.path.join(self.tmp, "report.json")
        code = quietly(score_main, scorer_argv + ["--no-progress", "--workers", "1",
                                                  "--json-out", report])
        self.assertEqual(code, 0)
        with open(report) as f:
            scored = json.load(f)
        for key in KEYS:
            self.assertAlmostEqual(scored[key], evaluated[key], delta=1e-6, msg=key)
        self.assertEqual(scored["per_k"].keys(), evaluated["per_k"].keys())
        self.assertEqual(scored["stq_convention"], "deeplab2")

    def test_kitti_step(self):
        step, images, _ = write_kitti_step_release(os.path.join(self.tmp, "release"))
        out = os.path.join(self.data, "kitti_step")
        self.assertEqual(quietly(prepare_kitti_step.main, ["--step", step, "--images", images,
                                                           "--out", out, "--quiet"]), 0)
        log, results = self.eval_only("kitti_step_val", 2, 19)
        self.assertTrue(os.path.isfile(os.path.join(results, "0002", "000002.png")))
        self.assert_scored_alike(log, results, [
            "--preset", "kitti-step", "--gt-dir", os.path.join(step, "panoptic_maps", "val"),
            "--pred-dir", results])

    def test_vipseg(self):
        write_vipseg_release(os.path.join(self.tmp, "VIPSeg"))
        out = os.path.join(self.data, "vipseg")
        self.assertEqual(quietly(prepare_vipseg.main, ["--vipseg", os.path.join(self.tmp, "VIPSeg"),
                                                       "--out", out, "--quiet"]), 0)
        gt_json, gt_dir = self.official_vipseg_gt(out)
        log, results = self.eval_only("vipseg_val", 58, 124)
        self.assertTrue(os.path.isfile(os.path.join(results, "pan_pred", "v_a", "00001.png")))
        self.assert_scored_alike(log, results, [
            "--preset", "vipseg", "--gt-json", gt_json, "--gt-dir", gt_dir,
            "--pred-json", os.path.join(results, "pred.json"),
            "--pred-dir", os.path.join(results, "pan_pred")])

    def official_vipseg_gt(self, prepared):
        """The prepared val split re-packed as create_panoptic_video_labels.py lays it out
        (per-video JSON, <video>/<frame>.png)."""
        paths = split_paths(prepared, "val")
        with open(paths["panoptic_json"]) as f:
            pan = json.load(f)
        gt_dir = os.path.join(self.tmp, "panomasksRGB")
        frames = []
        for a in sorted(pan["annotations"], key=lambda a: a["image_id"]):
            frame = a["image_id"].rsplit("_", 1)[1]
            dst = os.path.join(gt_dir, "v_a", f"{frame}.png")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy(os.path.join(paths["panoptic_root"], a["file_name"]), dst)
            frames.append({"image_id": frame, "file_name": f"{frame}.png",
                           "segments_info": a["segments_info"]})
        gt = {"videos": [{"video_id": "v_a", "images": [{"id": f["image_id"], "file_name":
                                                          f["file_name"]} for f in frames]}],
              "annotations": [{"video_id": "v_a", "annotations": frames}],
              "categories": pan["categories"]}
        gt_json = os.path.join(self.tmp, "panoptic_gt_VIPSeg_val.json")
        with open(gt_json, "w") as f:
            json.dump(gt, f)
        return gt_json, gt_dir


if __name__ == "__main__":
    unittest.main()
