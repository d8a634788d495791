"""dev/gpu_check.sh (issue 15): its CPU smoke runs every step of the GPU check at toy sizes, so the
script cannot rot between GPU loans; and the report judges SPEC §7's targets from the measurements.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import unittest

from .common import REPO, load_script

SMOKE_TIMEOUT_S = 2400  # a hang guard: the smoke takes under 3 minutes on 2 idle cores


class TestGpuCheckCpuSmoke(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        env = dict(os.environ, PYTHON=sys.executable)
        env.pop("OUT", None)
        start = time.time()
        cls.proc = subprocess.run(
            [
                "bash",
                os.path.join(REPO, "dev", "gpu_check.sh"),
                "--cpu-smoke",
                "--out",
                cls.tmp.name,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=SMOKE_TIMEOUT_S,
        )
        cls.seconds = time.time() - start  # pytest --durations shows it as this class's setup
        path = os.path.join(cls.tmp.name, "gpu_check.json")
        cls.report = json.load(open(path)) if os.path.exists(path) else None

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_every_step_runs(self):
        self.assertEqual(
            self.proc.returncode, 0, self.proc.stdout[-3000:] + self.proc.stderr[-2000:]
        )
        steps = {s["name"]: s for s in self.report["steps"]}
        self.assertEqual(
            list(steps),
            [
                "wheels",
                "env",
                "build",
                "tests",
                "flow_warp",
                "model_inference",
                "model_train",
                "stream_memory",
                "train",
            ],
        )
        for name, step in steps.items():
            # .whl/ (dev/gpu_wheels.sh) holds Python 3.12 wheels: installed when there and under
            # 3.12, else skipped, saying why.
            wheels_used = os.path.isdir(os.path.join(REPO, ".whl")) and sys.version_info[:2] == (
                3,
                12,
            )
            if name == "wheels" and not wheels_used:
                self.assertEqual(step["status"], "skipped")
                self.assertIn("uses this environment's packages", step["note"])
            else:
                self.assertEqual(step["status"], "ok", step)
        self.assertIn("== train (limit", self.proc.stdout)  # progress printed per step

    def test_report_has_every_measurement(self):
        r = self.report
        self.assertEqual(r["mode"], "smoke")
        self.assertEqual(r["targets"], [])  # toy sizes: nothing judged
        self.assertGreater(r["tests"]["passed"], 20)
        self.assertEqual(r["tests"]["failed"], 0)
        case = r["flow_warp"]["cases"][0]
        self.assertLess(case["max_abs_error_vs_float64"]["kernel"], 1e-5)
        rows = {(m["model"], m["task"], m["precision"]) for m in r["models"]}
        self.assertEqual(len(rows), 6)  # 3 models x (inference, train) x fp32
        self.assertTrue(all(m["ratio"] > 0 for m in r["models"]))
        train = r["training"]
        self.assertEqual((train["iterations"], train["amp"]), (4, False))
        self.assertTrue(train["losses_finite"])
        self.assertGreater(train["seconds_per_iteration"], 0)
        self.assertIn("VPQ", train["evaluation"])

    def test_output_files(self):
        files = sorted(os.listdir(self.tmp.name))
        self.assertEqual(
            files, ["gpu_check.json", "gpu_check.log", "gpu_check.md", "loss_curve.png", "stream_memory"]
        )
        self.assertEqual(sorted(os.listdir(os.path.join(self.tmp.name, "stream_memory"))),
                         ["memory.csv", "memory.png"])
        md = open(os.path.join(self.tmp.name, "gpu_check.md")).read()
        for heading in ("## Steps", "## Flow warp", "## Models", "## R50 VPSNet++ f training"):
            self.assertIn(heading, md)
        log = open(os.path.join(self.tmp.name, "gpu_check.log")).read()
        self.assertIn("===== train: ok", log)
        self.assertIn("Overall training speed", log)


class TestGpuCheckTargets(unittest.TestCase):
    """The GPU run's verdicts, from hand-made measurements."""

    @classmethod
    def setUpClass(cls):
        cls.report = load_script("dev/gpu_check_report.py")

    def judge(self, speedup=6.0, error=4e-7, inference=(45.0, 40.0), train=(150.0, 64.0), amp=True):
        steps = [{"name": n, "status": "ok"} for n in ("tests", "train")]
        tests = {"passed": 30, "failed": 0, "skipped": 0}
        flow = {
            "cases": [
                {
                    "size": [1, 256, 256, 512],
                    "precision": "fp32",
                    "speedup_forward_backward": speedup,
                    "max_abs_error_vs_float64": {"kernel": error, "grid_sample": 1e-4},
                }
            ]
        }
        models = {}
        for task, (ours, base) in (("inference", inference), ("train", train)):
            for precision in ("fp32", "amp") if amp else ("fp32",):
                models[("vpsnet_pp_f", task, precision)] = {"ratio": ours / base}
                models[("fusetrack", task, precision)] = {"ratio": 1.0}
                models[("panoptic_fpn", task, precision)] = {"ratio": 1.0}
        training = {"amp": amp, "losses_finite": True}
        return {
            t["target"]: t
            for t in self.report.judge_targets("gpu", steps, tests, flow, models, training)
        }

    def met(self, targets, prefix):
        return [t["met"] for name, t in targets.items() if name.startswith(prefix)]

    def test_all_met(self):
        targets = self.judge()
        self.assertTrue(all(t["met"] for t in targets.values()), targets)

    def test_flow_warp_must_and_goal(self):
        targets = self.judge(speedup=3.0)
        self.assertEqual(self.met(targets, "flow warp (1, 256, 256, 512)"), [True])
        self.assertEqual(self.met(targets, "flow warp, same (goal)"), [False])
        self.assertEqual(self.met(self.judge(error=2e-5), "flow warp error"), [False])

    def test_model_ratios(self):
        targets = self.judge(inference=(60.0, 40.0), train=(150.0, 61.0))
        self.assertEqual(
            self.met(targets, "VPSNet++ f online inference"), [False, False]
        )  # 1.5x > 1.3x
        self.assertEqual(
            self.met(targets, "VPSNet++ f training step"), [True, True]
        )  # 2.46x <= 2.5x
        self.assertEqual(
            targets["VPSNet++ f training step, 800×1600, fp32, × Panoptic FPN R50"]["measured"],
            "2.46×",
        )

    def test_missing_measurements_are_not_judged(self):
        targets = self.judge(amp=False)
        self.assertIsNone(
            targets["VPSNet++ f online inference per frame, 1024×2048, amp, × Panoptic FPN R50"][
                "met"
            ]
        )
        self.assertFalse(targets["AMP works"]["met"])
        flow_missing = self.report.judge_targets("gpu", [], None, None, {}, {})
        self.assertIsNone(flow_missing[1]["met"])
        self.assertFalse(flow_missing[0]["met"])  # the CUDA tests did not run

    def test_smoke_judges_nothing(self):
        self.assertEqual(self.report.judge_targets("smoke", [], None, None, {}, {}), [])

    def test_ratio_to_panoptic_fpn(self):
        with tempfile.TemporaryDirectory() as work:
            results = [
                {"model": m, "task": "inference", "precision": "fp32", "times": t, "peak_gib": 1.0}
                for m, t in (
                    ("vpsnet_pp_f", [0.05, 0.06, 0.07]),
                    ("panoptic_fpn", [0.04, 0.04, 0.05]),
                )
            ]
            with open(os.path.join(work, "model_inference.json"), "w") as f:
                json.dump({"results": results}, f)
            rows = self.report.model_results(work)
        self.assertTrue(math.isclose(rows[("vpsnet_pp_f", "inference", "fp32")]["ratio"], 1.5))
        self.assertTrue(
            math.isclose(rows[("panoptic_fpn", "inference", "fp32")]["median_ms"], 40.0)
        )


if __name__ == "__main__":
    unittest.main()
