"""dev/quickstart.py pieces: the training progress on the console, the per-class rows and the plots."""
import contextlib
import io
import json
import os
import shutil
import tempfile
import unittest

from .common import load_script
from .evaluation.helpers import evaluate_videos, frame

METRIC_LINE = ("[05/02 10:01:02 d2.utils.events]:  eta: 0:09:41  iter: 19  total_loss: 3.215  loss_cls: 0.6  "
               "time: 0.4826  last_time: 0.4715  data_time: 0.0102  last_data_time: 0.0088  lr: 0.0015  max_mem: 0M")


def vpq_results() -> dict:
    """A report as the evaluator writes it (``vpq_results.json``): class 0 stuff, 1 thing, 2 absent."""
    video = [frame([[7, 7, 1, 1]], {7: 1, 1: 0}, [[70, 70, 10, 10]], {70: 1, 10: 0}) for _ in range(11)]
    return json.loads(json.dumps(evaluate_videos([video], [False, True, True])))


class TestQuickstart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.qs = load_script("dev/quickstart.py")

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vps_d2_quickstart_")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def test_training_progress_keeps_only_metric_lines(self):
        progress = self.qs.training_progress(1200)
        self.assertEqual(progress(METRIC_LINE), "   iter 20/1200  total_loss 3.215  eta 0:09:41")
        self.assertEqual(progress(" iter: 19  total_loss: 3.2  lr: 0.001"), "   iter 20/1200  total_loss 3.2")
        self.assertIsNone(progress("[05/02 10:00:00 d2.engine.train_loop]: Starting training from iteration 0"))

    def test_run_streams_to_the_log_and_echoes_progress(self):
        self.qs.OUT = self.tmp
        script = f"print('Starting training'); print({METRIC_LINE!r})"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.qs.run("a step", ["-c", script], "step.log", echo=self.qs.training_progress(100))
        with open(os.path.join(self.tmp, "step.log")) as f:
            self.assertEqual(f.read(), f"Starting training\n{METRIC_LINE}\n")
        lines = out.getvalue().splitlines()
        self.assertEqual(lines[1], "   iter 20/100  total_loss 3.215  eta 0:09:41")
        self.assertNotIn("Starting training", out.getvalue())
        self.assertTrue(lines[-1].startswith("   done in "))

    def test_class_rows(self):
        rows = self.qs.class_rows(vpq_results())
        self.assertEqual(rows[0].split(), ["class", "VPQ", "PQ@0", "PQ@5", "PQ@10", "PQ@15", "IoU", "TP/FP/FN@0"])
        self.assertEqual(rows[1].split(), ["c0", "st", "100.0", "100.0", "100.0", "100.0", "100.0", "100.0", "11/0/0"])
        self.assertEqual(rows[3].split(), ["c2", "th", "-", "-", "-", "-", "-", "-", "-"])

    def test_plots_of_the_report(self):
        paths = self.qs.plot_report(vpq_results(), self.tmp)
        self.assertEqual([os.path.basename(p) for p in paths], ["vpq_vs_k.png", "vpq_per_class.png"])
        for p in paths:
            self.assertGreater(os.path.getsize(p), 1000)

    def test_ratio(self):
        self.assertEqual(self.qs.ratio(3.0, 2.0), "1.50x")
        self.assertEqual(self.qs.ratio(3.0, 0.0), "n/a")


if __name__ == "__main__":
    unittest.main()
