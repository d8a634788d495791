"""datasets/prepare_kitti_step.py and datasets/prepare_vipseg.py on tiny trees in each benchmark's
official layout: what they write reads back as the same labels (round trip), ``--check`` passes,
and a malformed release ends with one line."""
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

import numpy as np
from PIL import Image

from vps_d2.data.categories import KITTI_STEP_CATEGORIES, VIPSEG_CATEGORIES
from vps_d2.data.datasets.cityscapes_vps import split_paths
from vps_d2.data.panoptic_io import read_panoptic_png

from ..common import REPO
from .benchmark_fixtures import write_kitti_step_release, write_vipseg_release

sys.path.insert(0, os.path.join(REPO, "datasets"))
import prepare_kitti_step  # noqa: E402
import prepare_vipseg  # noqa: E402



def run(cli, argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv + ["--quiet"])
    return code, out.getvalue(), err.getvalue()


def load_split(root, split):
    paths = split_paths(root, split)
    with open(paths["panoptic_json"]) as f:
        pan = json.load(f)
    with open(paths["all_info_json"]) as f:
        frames = json.load(f)["images"]
    anns = sorted(pan["annotations"], key=lambda a: a["image_id"])
    maps = [read_panoptic_png(os.path.join(paths["panoptic_root"], a["file_name"])) for a in anns]
    return frames, anns, maps


def assert_same_partition(test, labels, maps, anns):
    """Each distinct (class, object) label of the source is one segment id through the video, with
    that class; void stays void."""
    seen = {}
    for label, ids, ann in zip(labels, maps, anns):
        cats = {s["id"]: (s["category_id"], s["iscrowd"]) for s in ann["segments_info"]}
        for key, sid in zip(map(tuple, label.reshape(-1, label.shape[-1])), ids.ravel().tolist()):
            if key[0] < 0:
                test.assertEqual(sid, 0)
                continue
            test.assertEqual(seen.setdefault(key, sid), sid, f"label {key}")
            test.assertEqual(cats[sid][0], key[0])
    test.assertEqual(len(set(seen.values())), len(seen))


class TestPrepareKittiStep(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vps_d2_kitti_")
        step, images, self.labels = write_kitti_step_release(self.tmp)
        self.argv = ["--step", step, "--images", images, "--out", os.path.join(self.tmp, "out")]

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_round_trip_and_check(self):
        code, stdout, err = run(prepare_kitti_step, self.argv)
        self.assertEqual(code, 0, err)
        frames, anns, maps = load_split(os.path.join(self.tmp, "out"), "val")
        self.assertEqual([f["id"] for f in frames], [20001, 20002, 20003])  # video 2, λ = 1
        self.assertEqual(len(anns), 3)
        assert_same_partition(self, self.labels, maps, anns)
        crowd = [s for s in anns[0]["segments_info"] if s["iscrowd"]]
        self.assertEqual([(s["category_id"], s["area"]) for s in crowd], [(11, 6)])
        code, stdout, err = run(prepare_kitti_step, ["--check"] + self.argv[-2:])
        self.assertEqual(code, 0, stdout + err)

    def test_one_line_errors(self):
        os.rename(os.path.join(self.tmp, "step", "panoptic_maps", "val", "0002"),
                  os.path.join(self.tmp, "step", "panoptic_maps", "val", "0003"))
        code, _, err = run(prepare_kitti_step, self.argv)
        self.assertEqual(code, 2)
        self.assertEqual(err.strip().splitlines(), [
            f"prepare_kitti_step.py: error: {self.tmp}/step/panoptic_maps/val: sequence '0003' is "
            "not a KITTI-STEP val sequence, expected some of 0002, 0006, 0007, 0008, 0010, 0013, "
            "0014, 0016, 0018"])


class TestPrepareVipseg(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vps_d2_vipseg_")
        root = os.path.join(self.tmp, "VIPSeg")
        self.raw = write_vipseg_release(root)
        self.argv = ["--vipseg", root, "--out", os.path.join(self.tmp, "out")]

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_round_trip_at_720p_and_check(self):
        code, stdout, err = run(prepare_vipseg, self.argv)
        self.assertEqual(code, 0, err)
        out = os.path.join(self.tmp, "out")
        frames, anns, maps = load_split(out, "val")
        self.assertEqual({(f["width"], f["height"]) for f in frames}, {(960, 720)})
        labels = []
        for mask in self.raw:  # nearest resize, as change2_720p.py; class = value (or //100) - 1
            big = np.asarray(Image.fromarray(mask).resize((960, 720), Image.NEAREST)).astype(int)
            cls = np.where(big >= 125, big // 100, big) - 1
            labels.append(np.stack([cls, np.where(cls == 2, big, 0)], -1))
        assert_same_partition(self, labels, maps, anns)
        self.assertFalse(any(s["iscrowd"] for a in anns for s in a["segments_info"]))
        with open(os.path.join(out, "val_vipseg_videos.json")) as f:
            self.assertEqual(json.load(f), {"1": "v_a"})
        code, stdout, err = run(prepare_vipseg, ["--check", "--out", out])
        self.assertEqual(code, 0, stdout + err)
        self.assertEqual(len(VIPSEG_CATEGORIES), 124)
        self.assertEqual([c["name"] for c in KITTI_STEP_CATEGORIES if c["isthing"]],
                         ["person", "car"])

    def test_a_frame_without_mask_is_an_error(self):
        os.remove(os.path.join(self.tmp, "VIPSeg", "panomasks", "v_a", "00001.png"))
        code, _, err = run(prepare_vipseg, self.argv)
        self.assertEqual(code, 2)
        self.assertEqual(err.strip().splitlines(), [
            "prepare_vipseg.py: error: 1 frame(s) of video 'v_a' have no mask, e.g. "
            f"{self.tmp}/VIPSeg/panomasks/v_a/00001.png"])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "out")))


if __name__ == "__main__":
    unittest.main()
