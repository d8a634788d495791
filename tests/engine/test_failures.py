"""Failure behaviour (SPEC §8): user errors of train_net.py give one line and exit 2; a NaN loss
stops training with detectron2's clear message."""
import os
import subprocess
import sys
import tempfile
import unittest

from detectron2.utils.env import seed_all_rng

from vps_d2.engine import VPSTrainer

from ..common import CONFIGS, REPO, get_config, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")


def train_net(*args, datasets_root=None):
    env = dict(os.environ, DETECTRON2_DATASETS=datasets_root or tempfile.gettempdir())
    return subprocess.run([sys.executable, os.path.join(REPO, "train_net.py"), *args], capture_output=True,
                          text=True, env=env, cwd=REPO)


class TestTrainNetUserErrors(unittest.TestCase):
    def assert_one_line(self, proc, pattern):
        self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
        last = proc.stderr.strip().splitlines()[-1]
        self.assertRegex(last, "^train_net.py: error: " + pattern)
        self.assertNotIn("Traceback", proc.stderr)

    def test_bad_inputs(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.assert_one_line(train_net("--config-file", "nope.yaml"), "--config-file nope.yaml: no such file")
            self.assert_one_line(train_net("--config-file", TINY, "MODEL.NO_SUCH_KEY", "1", "OUTPUT_DIR", tmp),
                                 "config .*tiny_vpsnet_pp_cpu.yaml: Non-existent key: MODEL.NO_SUCH_KEY")
            self.assert_one_line(train_net("--config-file", TINY, "OUTPUT_DIR", tmp, datasets_root=tmp),
                                 "dataset 'synthetic_vps_train' is not prepared.*prepare_synthetic_vps.py")


class TestNaNLoss(unittest.TestCase):
    def test_nan_loss_stops_training(self):
        with registered_synthetic("test_nan_vps") as (name, _), tempfile.TemporaryDirectory() as tmp:
            cfg = get_config(TINY)
            cfg.DATASETS.TRAIN = cfg.DATASETS.TEST = (name,)
            cfg.DATALOADER.NUM_WORKERS = 0
            cfg.MODEL.PIXEL_STD = [0.0, 0.0, 0.0]  # inf / NaN inputs: every loss becomes NaN
            cfg.SOLVER.MAX_ITER, cfg.OUTPUT_DIR = 3, tmp
            seed_all_rng(0)
            trainer = VPSTrainer(cfg)
            trainer.resume_or_load(resume=False)
            # detectron2 stops at the first of its checks: the RPN's "Predicted boxes or scores contain
            # Inf/NaN. Training has diverged." or the trainer's "Loss became infinite or NaN".
            with self.assertRaisesRegex(FloatingPointError, r"Inf/NaN\. Training has diverged|Loss became infinite or NaN"):
                trainer.train()
            self.assertEqual(trainer.iter, 0)


if __name__ == "__main__":
    unittest.main()
