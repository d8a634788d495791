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
from vps_d2.evaluation.step_io import write_step_png

from ..common import REPO

sys.path.insert(0, os.path.join(REPO, "datasets"))
import prepare_kitti_step  # noqa: E402
import prepare_vipseg  # noqa: E402

H, W = 6, 10


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
    """Sequence 0002 (val), 3 frames: road, a car (instance 1) moving right, a person crowd
    (instance 0), a second car from frame 1 on, void."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vps_d2_kitti_")
        self.labels = []
        for t in range(3):
            sem = np.zeros((H, W), np.int64)  # road
            inst = np.zeros((H, W), np.int64)
            sem[0] = 255
            sem[2:4, t:t + 3], inst[2:4, t:t + 3] = 13, 1
            sem[4:, 7:], inst[4:, 7:] = 11, 0  # crowd
            if t:
                sem[5, :2], inst[5, :2] = 13, 300
            write_step_png(os.path.join(self.tmp, "step", "panoptic_maps", "val", "0002",
                                        f"{t:06d}.png"), sem, inst)
            frame = os.path.join(self.tmp, "kitti", "training", "image_02", "0002", f"{t:06d}.png")
            os.makedirs(os.path.dirname(frame), exist_ok=True)
            Image.fromarray(np.full((H, W, 3), 40 * t, np.uint8)).save(frame)
            key = np.stack([np.where(sem == 255, -1, sem), np.where(sem == 13, inst, 0)], -1)
            self.labels.append(key)
        self.argv = ["--step", os.path.join(self.tmp, "step"), "--images",
                     os.path.join(self.tmp, "kitti"), "--out", os.path.join(self.tmp, "out")]

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
    """Video 'v_a' of 2 frames at 36x48 (made 720x960): wall (raw 1), a door (class 2: raw 300)
    moving, a door without instance (raw 3), void (0); 'v_b' in train."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vps_d2_vipseg_")
        root = os.path.join(self.tmp, "VIPSeg")
        self.raw = []
        for video, split in (("v_a", "val"), ("v_b", "train")):
            for t in range(2):
                mask = np.ones((36, 48), np.uint16)
                mask[:4] = 0
                mask[10:20, 5 + 10 * t:15 + 10 * t] = 300
                mask[30:, 40:] = 3
                for folder, name, arr in (("panomasks", f"{t:05d}.png", mask),
                                          ("imgs", f"{t:05d}.jpg",
                                           np.full((36, 48, 3), 90, np.uint8))):
                    path = os.path.join(root, folder, video, name)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    Image.fromarray(arr).save(path)
                if split == "val":
                    self.raw.append(mask)
            with open(os.path.join(root, f"{split}.txt"), "a") as f:
                f.write(video + "\n")
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
