"""tools/anchor_recall.py: the synthetic configs' anchors cover the tall, thin persons; the old ones
did not."""
import contextlib
import io
import os
import unittest

from detectron2.data import MetadataCatalog

from .common import CONFIGS, get_config, load_script, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
OLD_ANCHORS = ["MODEL.ANCHOR_GENERATOR.SIZES", [[8], [16], [32], [64], [128]],
               "MODEL.ANCHOR_GENERATOR.ASPECT_RATIOS", [[0.5, 1.0, 2.0]]]
# Frames at the configs' 128x256, so that objects have the sizes the anchors were chosen for.
SPLIT = dict(videos=6, frames=15, height=128, width=256)


class TestAnchorRecall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tool = load_script("tools/anchor_recall.py")
        dataset = registered_synthetic("test_anchor_recall", **SPLIT)
        cls.name, _ = dataset.__enter__()
        cls.addClassCleanup(dataset.__exit__, None, None, None)
        cls.cfg = get_config(TINY)
        cls.gt = cls.tool.load_gt_boxes(cls.cfg, cls.name)
        cls.levels = cls.tool.FeatureLevels.from_config(cls.cfg)

    def recalls(self, cfg) -> dict:
        names = MetadataCatalog.get(self.name).thing_classes
        rows = self.tool.recall_rows(cfg, self.levels, self.gt, names, 0.5)
        return {r[0]: (r[1], r[-1]) for r in rows}

    def test_chosen_anchors_cover_persons(self):
        recall = self.recalls(self.cfg)
        self.assertGreaterEqual(recall["person"][0], 10)  # enough persons for a fraction
        self.assertGreaterEqual(recall["person"][1], 0.8)
        self.assertGreaterEqual(recall["all"][1], 0.8)

    def test_old_anchors_miss_persons(self):
        old = self.cfg.clone()
        old.merge_from_list(OLD_ANCHORS)
        old_recall, recall = self.recalls(old), self.recalls(self.cfg)
        self.assertLess(old_recall["person"][1], 0.7)
        self.assertLess(old_recall["person"][1], recall["person"][1] - 0.2)
        self.assertLess(old_recall["all"][1], recall["all"][1] - 0.2)

    def test_main_prints_one_row_per_class_and_all(self):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            self.assertEqual(self.tool.main(["--config-file", TINY, "--dataset", self.name]), 0)
        text = out.getvalue()
        self.assertIn("anchor recall (IoU >= 0.5) on test_anchor_recall, frames of 128x256", text)
        self.assertIn("ASPECT_RATIOS (h/w) [[0.5, 1.0, 3.0]]", text)
        rows = {line.split("|")[1].strip(): line.split("|")[2:] for line in text.splitlines()
                if line.startswith("| ")}
        self.assertEqual(list(rows)[0], "class")
        self.assertIn("person", rows)
        recall = self.recalls(self.cfg)
        self.assertEqual(int(rows["all"][0]), recall["all"][0])
        self.assertAlmostEqual(float(rows["person"][2]), recall["person"][1], places=3)


if __name__ == "__main__":
    unittest.main()
