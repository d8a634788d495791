"""Failure behaviour (SPEC §8): user errors of train_net.py give one line and exit 2; a NaN loss
stops training with detectron2's clear message; a checkpoint save that fails leaves nothing behind."""
import os
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import torch
from detectron2.utils.env import seed_all_rng

from vps_d2.engine import VPSCheckpointer, VPSTrainer

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


class TestAtomicCheckpoint(unittest.TestCase):
    def test_save_is_renamed_into_place_and_a_failed_save_leaves_the_old_state(self):
        model = torch.nn.Linear(2, 2)
        with tempfile.TemporaryDirectory() as tmp:
            ckpt = VPSCheckpointer(model, save_dir=tmp)
            ckpt.save("model_0000001", iteration=1)
            self.assertEqual(sorted(os.listdir(tmp)), ["last_checkpoint", "model_0000001.pth"])
            self.assertEqual(ckpt.get_checkpoint_file(), os.path.join(tmp, "model_0000001.pth"))
            self.assertEqual(ckpt.load(ckpt.get_checkpoint_file())["iteration"], 1)

            def disk_full(data, path):
                with open(path, "wb") as f:
                    f.write(b"partial")
                raise OSError("No space left on device")

            with mock.patch("vps_d2.engine.checkpoint.torch.save", disk_full), self.assertRaises(OSError):
                ckpt.save("model_0000002", iteration=2)
            self.assertEqual(sorted(os.listdir(tmp)), ["last_checkpoint", "model_0000001.pth"])
            self.assertEqual(ckpt.get_checkpoint_file(), os.path.join(tmp, "model_0000001.pth"))


if __name__ == "__main__":
    unittest.main()
