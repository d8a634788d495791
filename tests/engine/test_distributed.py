"""Two CPU processes (gloo) through detectron2's launcher: training runs, and evaluation sharded by
video over the two ranks gives exactly the single-process numbers (issue 8)."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import unittest

from vps_d2.data.synthetic import write_synthetic_split

from ..common import REPO

TINY = os.path.join(REPO, "configs", "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")


def train_net(datasets_root, *args):
    env = dict(os.environ, DETECTRON2_DATASETS=datasets_root, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, os.path.join(REPO, "train_net.py"), "--config-file", TINY, *args],
                          capture_output=True, text=True, env=env, cwd=REPO)


def report(out_dir):
    (path,) = glob.glob(os.path.join(out_dir, "inference", "*", "vpq_results.json"))
    with open(path) as f:
        return json.load(f)


class TestTwoProcesses(unittest.TestCase):
    def test_train_and_sharded_eval_on_two_cpu_processes(self):
        with tempfile.TemporaryDirectory() as tmp:
            root = os.path.join(tmp, "synthetic_vps")
            small = dict(frames=10, stride=5, height=64, width=128, seed=0)
            write_synthetic_split(root, "train", videos=2, **small)
            write_synthetic_split(root, "val", videos=3, **small)
            common = ["DATALOADER.NUM_WORKERS", "0", "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "128",
                      "MODEL.ROI_HEADS.SCORE_THRESH_TEST", "0.3"]
            train = train_net(tmp, "--num-gpus", "2", "SOLVER.MAX_ITER", "3", "SOLVER.IMS_PER_BATCH", "2",
                              "OUTPUT_DIR", os.path.join(tmp, "train"), *common)
            self.assertEqual(train.returncode, 0, train.stderr[-3000:])
            self.assertIn("World size: 2", train.stdout + train.stderr)
            weights = os.path.join(tmp, "train", "model_final.pth")
            self.assertTrue(os.path.isfile(weights))
            runs = {}
            for gpus in ("1", "2"):
                out = os.path.join(tmp, f"eval{gpus}")
                proc = train_net(tmp, "--num-gpus", gpus, "--eval-only", "MODEL.WEIGHTS", weights, "OUTPUT_DIR", out, *common)
                self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
                self.assertIn(f"World size: {gpus}", proc.stdout + proc.stderr)
                runs[gpus] = report(out)
            one, two = runs["1"], runs["2"]
            self.assertEqual((one["num_videos"], two["num_videos"]), (3, 3))
            self.assertEqual(one["per_class"], two["per_class"])
            for key in ("VPQ", "VPQ_th", "VPQ_st", "STQ"):
                self.assertEqual(one[key], two[key], key)
            self.assertEqual(one["per_k"], two["per_k"])


if __name__ == "__main__":
    unittest.main()
