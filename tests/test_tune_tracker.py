"""benchmarks/tune_tracker.py on a tiny model and split: the network once, the grid re-tracked."""
import json
import os
import tempfile
import unittest

import torch
from detectron2.modeling import build_model

from .common import CONFIGS, get_config, load_script, registered_synthetic


class TestTuneTracker(unittest.TestCase):
    def test_grid_scored_on_val_and_reported_on_another_split(self):
        tune = load_script("benchmarks/tune_tracker.py")
        config = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
        with registered_synthetic("tune_val", "val", videos=2) as (name, _), tempfile.TemporaryDirectory() as tmp:
            cfg = get_config(config)
            torch.manual_seed(0)
            weights = os.path.join(tmp, "model.pth")
            torch.save({"model": build_model(cfg).state_dict()}, weights)
            out = os.path.join(tmp, "grid.json")
            code = tune.main(["--config-file", config, "--weights", weights, "--dataset", name, "--json", out,
                              "--report-on", name, "--grid", "APPEARANCE_WEIGHT=0,1", "--grid", "MASK_IOU_WEIGHT=2",
                              "--grid", "SCORE_WEIGHT=1", "--grid", "MEMORY_FRAMES=8", "MODEL.DEVICE", "cpu"])
            self.assertEqual(code, 0)
            with open(out) as f:
                report = json.load(f)
            self.assertEqual(len(report["grid"]), 2)
            self.assertEqual(report["best_opts"][:2], ["MODEL.TRACKER.APPEARANCE_WEIGHT", str(report["best"]["APPEARANCE_WEIGHT"])])
            self.assertEqual(report["report_on"]["dataset"], name)
            self.assertEqual(tune.main(["--config-file", config, "--weights", weights, "--dataset", name,
                                        "--json", out, "--grid", "NOPE=1"]), 2)


if __name__ == "__main__":
    unittest.main()
