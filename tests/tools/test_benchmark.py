"""tools/benchmark.py on the tiny config and a small synthetic split: loader speed, training
iterations/s and online inference fps with a per-stage breakdown that adds up to the total."""
import json
import os
import tempfile
import unittest

from ..common import CONFIGS, load_script, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")


class TestBenchmark(unittest.TestCase):
    def test_tasks(self):
        tool = load_script("tools/benchmark.py")
        with registered_synthetic("test_benchmark", videos=1) as (name, _), tempfile.TemporaryDirectory() as out:
            opts = ["DATASETS.TRAIN", f"('{name}',)", "DATASETS.TEST", f"('{name}',)", "DATALOADER.NUM_WORKERS", "0"]
            results = {}
            for task, frames in (("data", 2), ("train", 1), ("inference", 3)):
                path = os.path.join(out, f"{task}.json")
                argv = ["--config-file", TINY, "--task", task, "--frames", str(frames), "--warmup", "1", "--json", path]
                self.assertEqual(tool.main(argv + opts), 0)
                with open(path) as f:
                    results[task] = json.load(f)
        self.assertGreater(results["data"]["batches_per_s"], 0)
        self.assertGreater(results["train"]["iterations_per_s"], 0)
        r = results["inference"]
        self.assertEqual((r["frames"], r["frame_size"]), (3, [64, 128]))
        ms = r["ms"]
        self.assertEqual(set(ms), {"backbone", "flow", "fuse", "heads", "tracker", "merge", "other", "total"})
        for stage in ("backbone", "flow", "fuse", "heads", "tracker", "merge"):
            self.assertGreater(ms[stage], 0, stage)
        self.assertAlmostEqual(sum(v for k, v in ms.items() if k != "total"), ms["total"], places=6)
        self.assertGreaterEqual(ms["other"], 0)
        self.assertAlmostEqual(r["fps"], 1e3 / ms["total"])


if __name__ == "__main__":
    unittest.main()
