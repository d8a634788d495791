"""Interrupt training after a checkpoint, resume it, and get the uninterrupted run's iterations,
learning rates and losses (SPEC §8, §9 "Resume")."""
import os
import tempfile
import unittest

from detectron2.engine import HookBase
from detectron2.utils.env import seed_all_rng

from vps_d2.engine import VPSTrainer

from ..common import CONFIGS, get_config, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")


class Interrupted(Exception):
    pass


class Record(HookBase):
    """Records (iteration, lr, total loss) of every step; optionally stops after ``stop_after``."""

    def __init__(self, stop_after=None):
        self.rows, self.stop_after = [], stop_after

    def after_step(self):
        storage = self.trainer.storage
        losses = {k: v.latest() for k, v in storage.histories().items() if k.startswith("loss_")}
        self.rows.append((self.trainer.iter, storage.history("lr").latest(), sum(losses.values())))
        if self.trainer.iter == self.stop_after:
            raise Interrupted()


class TestResume(unittest.TestCase):
    def run_trainer(self, cfg, resume, stop_after=None):
        seed_all_rng(0)
        trainer = VPSTrainer(cfg)
        trainer.resume_or_load(resume=resume)
        record = Record(stop_after)
        trainer.register_hooks([record])
        start = trainer.start_iter
        try:
            trainer.train()
        except Interrupted:
            pass
        return start, record.rows

    def test_interrupted_and_resumed_run_equals_uninterrupted(self):
        with registered_synthetic("test_resume_vps", videos=3) as (name, _), tempfile.TemporaryDirectory() as tmp:
            cfg = get_config(TINY)
            cfg.DATASETS.TRAIN = cfg.DATASETS.TEST = (name,)
            cfg.DATALOADER.NUM_WORKERS = 0
            cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.CROP.SIZE = (48, 80), (40, 72)
            cfg.SOLVER.MAX_ITER, cfg.SOLVER.CHECKPOINT_PERIOD = 6, 3
            cfg.SOLVER.WARMUP_ITERS, cfg.SOLVER.STEPS = 4, (4,)
            cfg.TEST.EVAL_PERIOD = 0
            cfg.SEED = 0
            cfg.OUTPUT_DIR = os.path.join(tmp, "straight")
            _, straight = self.run_trainer(cfg, resume=False)
            cfg.OUTPUT_DIR = os.path.join(tmp, "interrupted")
            _, first = self.run_trainer(cfg, resume=False, stop_after=3)
            self.assertTrue(os.path.isfile(os.path.join(cfg.OUTPUT_DIR, "model_0000002.pth")))
            start, second = self.run_trainer(cfg, resume=True)
            self.assertEqual(start, 3)  # the checkpoint after iterations 0, 1, 2
            self.assertEqual([r[0] for r in second], [3, 4, 5])
            resumed = first[:3] + second
            self.assertEqual(len(straight), 6)
            for (it_a, lr_a, loss_a), (it_b, lr_b, loss_b) in zip(straight, resumed):
                self.assertEqual(it_a, it_b)
                self.assertAlmostEqual(lr_a, lr_b, places=12)
                self.assertAlmostEqual(loss_a, loss_b, delta=1e-4, msg=f"iteration {it_a}")


if __name__ == "__main__":
    unittest.main()
