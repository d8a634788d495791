"""The hard synthetic split: deterministic, the clean split unchanged, and every effect present,
checked against what the generator renders without it (not only against its own records)."""
import hashlib
import json
import os
import shutil
import tempfile
import unittest

import cv2
import numpy as np
from PIL import Image

from vps_d2.data.categories import CITYSCAPES_VPS_CATEGORIES
from vps_d2.data.converters.check import check_split
from vps_d2.data.panoptic_io import read_panoptic_png
from vps_d2.data.synthetic import STUFF_SEGMENT_ID, build_video, write_synthetic_split
from vps_d2.data.synthetic_hard import DEGRADATIONS
from vps_d2.data.synthetic_scene import POLE, THING_PALETTES, render_frame
from vps_d2.utils.errors import UserError

HARD = dict(videos=3, frames=30, stride=5, height=128, width=256, seed=0, difficulty="hard")
TINY = dict(videos=2, frames=10, stride=5, height=64, width=128, seed=0)
# md5 of the tiny clean val split (TINY) written before the hard split existed
TINY_CLEAN_MD5 = "4568cfb5aa0038218d4f91c6dfa34684"


def split_md5(root):
    """md5 over every file's relative path and bytes, in sorted order."""
    h = hashlib.md5()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            path = os.path.join(folder, name)
            h.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def sharpness(rgb):
    return np.abs(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_32F)).mean()


class TestSyntheticHard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="vps_d2_hard_")
        cls.stats = write_synthetic_split(cls.root, "val", **HARD)
        with open(os.path.join(cls.root, "im_all_info_val_city_vps.json")) as f:
            cls.info = json.load(f)
        with open(os.path.join(cls.root, "panoptic_gt_val_city_vps.json")) as f:
            cls.pan = json.load(f)
        cls.videos = {v: build_video(0, "val", v, 128, 256, 30, 5, "hard") for v in (1, 2, 3)}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def frame(self, v, f):
        name = f"synthetic_{v:06d}_{f:06d}_leftImg8bit.png"
        return np.asarray(Image.open(os.path.join(self.root, "val", "img_all", name)))

    def segments(self, v, f):
        """{segment id: segment} of annotated frame f of video v."""
        ann = [a for a in self.pan["annotations"] if a["image_id"].endswith(f"_{v:06d}_{f:06d}")]
        return {s["id"]: s for s in ann[0]["segments_info"]}

    def labels(self, v, f):
        ann = [a for a in self.pan["annotations"] if a["image_id"].endswith(f"_{v:06d}_{f:06d}")]
        return read_panoptic_png(os.path.join(self.root, "val", "panoptic_video", ann[0]["file_name"]))

    def test_same_arguments_are_byte_identical(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            write_synthetic_split(a, "val", **TINY, difficulty="hard")
            write_synthetic_split(b, "val", **TINY, difficulty="hard")
            self.assertEqual(split_md5(a), split_md5(b))

    def test_clean_split_is_unchanged(self):
        with tempfile.TemporaryDirectory() as root:
            write_synthetic_split(root, "val", **TINY)
            self.assertEqual(split_md5(root), TINY_CLEAN_MD5)

    def test_degraded_frames_differ_from_their_render_and_the_others_equal_it(self):
        seen = set()
        for v, (scene, rng, _) in self.videos.items():
            effects = {im["id"] % 10000: im["effects"] for im in self.info["images"] if im["id"] // 10000 == v}
            for f in range(1, 31):
                clean, written = render_frame(scene, f - 1, rng)[0], self.frame(v, f)
                if not effects[f]:
                    np.testing.assert_array_equal(written, clean)
                    continue
                kind, = effects[f]
                seen.add(kind)
                for g in (f - 2, f - 1, f + 1, f + 2):
                    self.assertFalse(effects.get(g), f"video {v}: frames {f} and {g} are both degraded")
                diff = written.astype(float) - clean
                if kind == "motion_blur":
                    self.assertLess(sharpness(written), 0.6 * sharpness(clean))
                elif kind == "noise_burst":
                    self.assertGreater(diff.std(), 18)
                elif kind == "exposure_flicker":
                    ratio = written.mean() / clean.mean()
                    self.assertTrue(ratio < 0.6 or ratio > 1.35, ratio)
                else:
                    self.assertTrue(0.08 <= (diff != 0).any(2).mean() <= 0.27)
        self.assertEqual(seen, set(DEGRADATIONS))
        hard = self.stats["hard_effects"]
        self.assertTrue(0.35 <= hard["annotated_degraded"] / hard["annotated"] <= 0.55, hard)

    def test_hard_scene_is_the_clean_scene_plus_effects(self):
        clean_scene, clean_rng, _ = build_video(0, "val", 1, 128, 256, 30, 5)
        hard_scene, hard_rng, _ = build_video(0, "val", 1, 128, 256, 30, 5, "hard")
        for t in range(10):
            clean_rgb, clean_label, _ = render_frame(clean_scene, t, clean_rng)
            hard_rgb, hard_label, _ = render_frame(hard_scene, t, hard_rng)
            same = clean_label == hard_label
            self.assertGreater(same.mean(), 0.7)
            np.testing.assert_array_equal(clean_rgb[same], hard_rgb[same])

    def test_lookalike_pairs_are_alike_overlap_and_swap_sides(self):
        crossed = 0
        for record in self.info["hard_effects"]:
            scene = self.videos[record["video"]][0]
            things = {1000 * th.category + th.instance: th for th in scene.things}
            for a, b in record["lookalike_pairs"]:
                self.assertEqual(a // 1000, b // 1000)
                self.assertIn(a // 1000, THING_PALETTES)
                self.assertLessEqual(np.abs(np.subtract(things[a].color, things[b].color)).max(), 8)
                self.assertNotEqual(things[a].texture_seed, things[b].texture_seed)
                self.assertLess(things[a].vx * things[b].vx, 0, "a pair moves in one direction")
                overlap, sides = False, set()
                for f in range(5, 31, 5):
                    segs = self.segments(record["video"], f)
                    if a in segs and b in segs:
                        (xa, ya, wa, ha), (xb, yb, wb, hb) = segs[a]["bbox"], segs[b]["bbox"]
                        overlap |= xa < xb + wb and xb < xa + wa and ya < yb + hb and yb < ya + ha
                        sides.add(xa + wa / 2 < xb + wb / 2)
                crossed += overlap and sides == {True, False}
        self.assertGreater(crossed, 0, "no look-alike pair overlaps and swaps sides")

    def test_hidden_objects_leave_and_return(self):
        returned = 0
        for record in self.info["hard_effects"]:
            for hidden in record["hidden"]:
                gap = hidden["frames"]
                self.assertTrue(2 <= len(gap) <= 6 and gap == list(range(gap[0], gap[-1] + 1)))
                present = {f: hidden["id"] in self.segments(record["video"], f) for f in range(5, 31, 5)}
                for f in gap:
                    self.assertFalse(present.get(f), f"hidden object {hidden['id']} is labelled in frame {f}")
                before = [f for f in present if f < gap[0] and present[f]]
                after = [f for f in present if f > gap[-1] and present[f]]
                returned += any(f in present for f in gap) and bool(before) and bool(after)
        self.assertGreater(returned, 0, "no object is absent from an annotated frame and there before and after")

    def test_thin_poles_are_in_the_labels(self):
        pole = STUFF_SEGMENT_ID[POLE]
        found = set()
        for record in self.info["hard_effects"]:
            scene = self.videos[record["video"]][0]
            for thin in record["thin_poles"]:
                self.assertIn(thin["width"], (2, 3))
                for f in range(5, 31, 5):
                    x = thin["x"] - scene.cam_x[f - 1]
                    if not 1 <= x < 256 - thin["width"] - 1:
                        continue
                    rows = self.labels(record["video"], f)[:, x - 1:x + thin["width"] + 1] == pole
                    exact = rows[:, 1:-1].all(1) & ~rows[:, 0] & ~rows[:, -1]
                    if exact.sum() >= 10:  # a pole of exactly that width, at least 10 rows tall
                        found.add(thin["width"])
        self.assertTrue(found, "no 2-3 px pole in the labels")

    def test_split_is_valid_and_pngs_match_json(self):
        report = check_split(self.root, "val", CITYSCAPES_VPS_CATEGORIES)
        self.assertEqual(report["problems"], [])
        for ann in self.pan["annotations"][:6]:
            ids = read_panoptic_png(os.path.join(self.root, "val", "panoptic_video", ann["file_name"]))
            values, counts = np.unique(ids, return_counts=True)
            self.assertEqual({s["id"]: s["area"] for s in ann["segments_info"]},
                             dict(zip(values.tolist(), counts.tolist())))

    def test_statistics_count_the_recorded_effects(self):
        hard = self.stats["hard_effects"]
        kinds = [k for im in self.info["images"] for k in im["effects"]]
        self.assertEqual(hard["degraded_frames"], {k: kinds.count(k) for k in DEGRADATIONS})
        videos = self.info["hard_effects"]
        self.assertEqual(hard["lookalike_pairs"], sum(len(v["lookalike_pairs"]) for v in videos))
        self.assertEqual(hard["hidden_objects"], sum(len(v["hidden"]) for v in videos))
        self.assertEqual(hard["thin_poles"], sum(len(v["thin_poles"]) for v in videos))
        self.assertEqual(self.info["generator"]["difficulty"], "hard")

    def test_bad_difficulty_is_a_user_error(self):
        with tempfile.TemporaryDirectory() as root:
            with self.assertRaisesRegex(UserError, "--difficulty must be one of"):
                write_synthetic_split(root, "val", **TINY, difficulty="nightmare")


if __name__ == "__main__":
    unittest.main()
