"""Predictions exported in the official layouts (issue 14 item 4) read back as written."""
import json
import os
import shutil
import tempfile
import unittest

import numpy as np

from vps_d2.evaluation.export import frame_names, make_writer
from vps_d2.evaluation.step_io import step_frame
from vps_d2.evaluation.submission_io import decode_panoptic_png
from vps_d2.evaluation.vipseg_io import load_vipseg_videos

ISTHING = [c in (11, 13) for c in range(19)]  # KITTI-STEP: person, car


class TestExport(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vps_d2_export_")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_frame_names(self):
        self.assertEqual(frame_names("vipseg", "0003_0012_vipseg_127_-hIVCYO4C90_00000012"),
                         ("127_-hIVCYO4C90", "00000012"))
        self.assertEqual(frame_names("kitti-step", "0002_0001_kitti_0002_000000"),
                         ("0002", "000000"))
        self.assertEqual(frame_names("cityscapes-vps", "0005_0025_frankfurt_000000_001736"),
                         ("0005", "0005_0025_frankfurt_000000_001736"))

    def test_kitti_step_round_trip(self):
        # car 5 in both frames keeps instance 1; person 9 appears later: instance 2; road 7 is
        # stuff (instance 0); id 0 is void (class 255).
        w = make_writer("kitti-step", self.tmp, thing_ids=[11, 13])
        w.add("0002", "000000", np.array([[5, 5, 7, 0]]), [(5, 13), (7, 0)])
        w.add("0002", "000001", np.array([[7, 9, 9, 5]]), [(5, 13), (9, 11), (7, 0)])
        w.close()
        ids0, _, segs0 = step_frame(os.path.join(self.tmp, "0002", "000000.png"), ISTHING)
        ids1, _, segs1 = step_frame(os.path.join(self.tmp, "0002", "000001.png"), ISTHING)
        car, person, road = (14 << 16) | 1, (12 << 16) | 2, 1 << 16
        np.testing.assert_array_equal(ids0, [[car, car, road, 0]])
        np.testing.assert_array_equal(ids1, [[road, person, person, car]])
        self.assertEqual(segs1, [(road, 0, 0), (person, 11, 0), (car, 13, 0)])

    def test_vipseg_round_trip(self):
        w = make_writer("vipseg", self.tmp)
        maps = [np.array([[11, 9, 9, 0]]), np.array([[11, 11, 8, 8]])]
        segs = [[(11, 0), (9, 2)], [(11, 0), (8, 2)]]
        for t, (ids, s) in enumerate(zip(maps, segs)):
            w.add("v1", f"{t:03d}", ids, s)
        w.close()
        gt = {"videos": [{"video_id": "v1", "images": [{"id": "000", "file_name": "000.png"},
                                                        {"id": "001", "file_name": "001.png"}]}],
              "annotations": [{"video_id": "v1", "annotations": [
                  {"image_id": f"{t:03d}", "file_name": f"{t:03d}.png",
                   "segments_info": [{"id": 1, "category_id": 0}]} for t in range(2)]}],
              "categories": [{"id": i, "isthing": int(i == 2)} for i in range(124)]}
        with open(os.path.join(self.tmp, "gt.json"), "w") as f:
            json.dump(gt, f)
        videos, _ = load_vipseg_videos(os.path.join(self.tmp, "gt.json"), self.tmp,
                                       os.path.join(self.tmp, "pred.json"),
                                       os.path.join(self.tmp, "pan_pred"))
        for t, frame in enumerate(videos[0]):
            self.assertEqual(frame[0], f"v1/{t:03d}")
            self.assertEqual(sorted(frame[4]), sorted(segs[t]))
            np.testing.assert_array_equal(decode_panoptic_png(frame[3]), maps[t])


if __name__ == "__main__":
    unittest.main()
