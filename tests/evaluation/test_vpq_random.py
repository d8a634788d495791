"""The fast metrics equal, to 1e-9, a straightforward implementation of the released algorithm
(``reference_vpq``) on randomised videos with perturbed predictions; hotcoco is an extra k = 0
oracle.
"""

import json
import os
import tempfile
import unittest
from unittest import mock

import numpy as np

from vps_d2.data.panoptic_io import write_panoptic_png
from vps_d2.evaluation import vpq
from vps_d2.evaluation.stq import summarize_stq
from vps_d2.evaluation.vpq import summarize_vpq

from . import reference_vpq as ref
from .reference_stq import official_stq
from .helpers import fast_stats
from .synthetic_videos import ISTHING, NUM_CLASSES, random_videos

FRAMES_PER_WINDOW = [1, 2, 3, 4]

try:
    import hotcoco.panoptic as hotcoco_panoptic
except ImportError:  # optional test dependency (dev/requirements.txt)
    hotcoco_panoptic = None


class TestAgainstReference(unittest.TestCase):
    def _compare(self, seed, min_gt_area=0, **kw):
        videos = random_videos(seed, **kw)
        fast, _ = fast_stats(videos, FRAMES_PER_WINDOW, ISTHING, min_gt_area)
        slow = ref.vpq_stats(videos, FRAMES_PER_WINDOW, NUM_CLASSES, min_gt_area)
        np.testing.assert_allclose(fast, slow, rtol=0, atol=1e-9, err_msg=f"seed {seed}")
        summary = summarize_vpq(fast, [0, 5, 10, 15], ISTHING)
        for i, k in enumerate([0, 5, 10, 15]):
            expected = ref.pq_average(slow[i], ISTHING)
            self.assertAlmostEqual(summary["per_k"][k]["PQ"], expected["all"], delta=1e-9)
            self.assertAlmostEqual(summary["per_k"][k]["PQ_th"], expected["th"], delta=1e-9)
            self.assertAlmostEqual(summary["per_k"][k]["PQ_st"], expected["st"], delta=1e-9)
        return fast

    def test_random_videos_equal_reference(self):
        totals = np.zeros(4)
        for seed in range(60):
            fast = self._compare(seed)
            totals += fast.sum(axis=(0, 1))
        # the cases really exercise matches, misses and false positives
        self.assertTrue((totals[1:] > 50).all(), totals)

    def test_random_videos_min_gt_area_equal_reference(self):
        for seed in range(60, 90):
            self._compare(seed, min_gt_area=20)

    def test_random_larger_videos(self):
        for seed in range(90, 95):
            self._compare(seed, height=60, width=80, num_objects=8)

    def test_counting_paths_agree(self):
        """uint8 codes + 2-D histogram, intp codes + bincount, and unsigned (PNG) id maps, whose
        ids >= 2^24 are looked up by clipping, count the same."""
        videos = random_videos(7, height=60, width=80, num_objects=8)
        expected, _ = fast_stats(videos, FRAMES_PER_WINDOW, ISTHING)
        with mock.patch.object(vpq, "_MAX_SMALL_CODES", 0):
            wide, _ = fast_stats(videos, FRAMES_PER_WINDOW, ISTHING)
        unsigned = [[dict(f, gt=f["gt"].astype(np.uint32), pred=f["pred"].astype(np.uint32))
                     for f in v] for v in videos]
        np.testing.assert_array_equal(wide, expected)
        np.testing.assert_array_equal(fast_stats(unsigned, FRAMES_PER_WINDOW, ISTHING)[0], expected)
        frame = unsigned[0][0]
        frame["gt"][0, 0] = 1 << 24  # unlisted, like any id no segment lists
        frame["pred"][0, 0] = (1 << 24) + 5  # unlisted on the map: an error
        with self.assertRaisesRegex(ValueError, "segment id 16777221 is on the map"):
            fast_stats(unsigned, FRAMES_PER_WINDOW, ISTHING)

    def test_stq_equals_reference(self):
        for seed in range(100, 115):
            videos = random_videos(seed)
            _, stq = fast_stats(videos, [1], ISTHING)
            got = summarize_stq(stq)
            aq, sq, stq_value = ref.stq(videos, ISTHING)
            self.assertAlmostEqual(got["AQ"], aq, delta=1e-12)
            self.assertAlmostEqual(got["SQ"], sq, delta=1e-12)
            self.assertAlmostEqual(got["STQ"], stq_value, delta=1e-12)

    def test_stq_deeplab2_convention_equals_official_algorithm(self):
        for seed in range(115, 130):
            videos = random_videos(seed)
            _, stq = fast_stats(videos, [1], ISTHING)
            got = summarize_stq(stq, "deeplab2")
            aq, sq, stq_value = official_stq(videos, ISTHING)
            self.assertAlmostEqual(got["AQ"], aq, delta=1e-12, msg=f"seed {seed}")
            self.assertAlmostEqual(got["SQ"], sq, delta=1e-12, msg=f"seed {seed}")
            self.assertAlmostEqual(got["STQ"], stq_value, delta=1e-12, msg=f"seed {seed}")


@unittest.skipIf(hotcoco_panoptic is None, "hotcoco is not installed (optional k = 0 oracle)")
class TestAgainstHotcoco(unittest.TestCase):
    """Image PQ (k = 0) against hotcoco's panopticapi-compatible evaluator, per class."""

    def test_k0_equals_hotcoco(self):
        videos = [v for seed in range(200, 206) for v in random_videos(seed)]
        fast, _ = fast_stats(videos, [1], ISTHING)
        frames = [f for v in videos for f in v]
        with tempfile.TemporaryDirectory() as tmp:
            gt = {
                "images": [],
                "annotations": [],
                "categories": [
                    {"id": c, "name": f"c{c}", "supercategory": "x", "isthing": int(t)}
                    for c, t in enumerate(ISTHING)
                ],
            }
            pred = {"annotations": []}
            for i, f in enumerate(frames):
                name = f"{i:05d}.png"
                H, W = f["gt"].shape
                gt["images"].append({"id": i, "file_name": name, "height": H, "width": W})
                write_panoptic_png(os.path.join(tmp, "gt", name), f["gt"])
                write_panoptic_png(os.path.join(tmp, "pred", name), f["pred"])
                gt["annotations"].append(
                    {"image_id": i, "file_name": name, "segments_info": f["gt_segments"]}
                )
                pred["annotations"].append(
                    {"image_id": i, "file_name": name, "segments_info": f["pred_segments"]}
                )
            for key, obj in (("gt", gt), ("pred", pred)):
                with open(os.path.join(tmp, f"{key}.json"), "w") as fh:
                    json.dump(obj, fh)
            ev = hotcoco_panoptic.PanopticEval(
                os.path.join(tmp, "gt.json"),
                os.path.join(tmp, "pred.json"),
                gt_folder=os.path.join(tmp, "gt"),
                pred_folder=os.path.join(tmp, "pred"),
            )
            ev.evaluate()
            per_class = ev.results()["per_class"]
        for c in range(NUM_CLASSES):
            r = per_class.get(c, per_class.get(str(c)))
            iou, tp, fp, fn = fast[0, c]
            self.assertEqual((tp, fp, fn), (r["tp"], r["fp"], r["fn"]), f"class {c}")
            self.assertAlmostEqual(iou, r["iou"], delta=1e-9, msg=f"class {c}")
