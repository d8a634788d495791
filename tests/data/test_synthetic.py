import hashlib
import json
import os
import shutil
import tempfile
import unittest
from collections import defaultdict

import numpy as np

from vps_d2.data.categories import CITYSCAPES_VPS_CATEGORIES
from vps_d2.data.panoptic_io import read_panoptic_png
from vps_d2.data.synthetic import GENERATOR_VERSION, SPLIT_SEEDS, STUFF_SEGMENT_ID, label_to_segments
from vps_d2.data.synthetic_scene import (
    BICYCLE, CAR, FENCE, MOTORCYCLE, PERSON, POLE, RIDER, SIDEWALK, TRAFFIC_LIGHT, TRAFFIC_SIGN, build_world,
    render_frame, thing_sprite,
)

from ..common import SMALL, write_small_synthetic

THING_IDS = {c["id"] for c in CITYSCAPES_VPS_CATEGORIES if c["isthing"]}


def tree_digest(root):
    digest = {}
    for folder, _, files in os.walk(root):
        for f in files:
            path = os.path.join(folder, f)
            with open(path, "rb") as fh:
                digest[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return digest


class TestSyntheticGenerator(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="vps_d2_synth_")
        cls.stats = write_small_synthetic(cls.root, "train", videos=4)
        with open(os.path.join(cls.root, "panoptic_gt_train_city_vps.json")) as f:
            cls.pan = json.load(f)
        with open(os.path.join(cls.root, "im_all_info_train_city_vps.json")) as f:
            cls.info = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_same_seed_is_byte_identical_and_other_seed_differs(self):
        other = tempfile.mkdtemp()
        try:
            write_small_synthetic(other, "train", videos=4)
            self.assertEqual(tree_digest(self.root), tree_digest(other))
            shutil.rmtree(other)
            write_small_synthetic(other, "train", videos=4, seed=1)
            a, b = tree_digest(self.root), tree_digest(other)
            self.assertEqual(a.keys(), b.keys())
            self.assertNotEqual(a, b)
        finally:
            shutil.rmtree(other, ignore_errors=True)

    def test_generator_stamp_in_both_jsons(self):
        stamp = dict(SMALL, videos=4, name="vps_d2.synthetic", version=GENERATOR_VERSION, split="train")
        self.assertEqual(self.pan["generator"], stamp)
        self.assertEqual(self.info["generator"], stamp)

    def test_layout_and_names(self):
        images = self.info["images"]
        self.assertEqual(len(images), 4 * 10)
        self.assertEqual([im["id"] for im in images[:3]], [10001, 10002, 10003])
        for im in images:
            self.assertTrue(os.path.isfile(os.path.join(self.root, "train", "img_all", im["file_name"])))
        ids = [im["id"] for im in self.pan["images"]]
        # every 5th frame of 10, global annotated counter FFFF, VVVV_FFFF_<city>_<seq>_<frame>
        self.assertEqual(ids[:3], ["0001_0001_synthetic_000001_000005", "0001_0002_synthetic_000001_000010",
                                   "0002_0003_synthetic_000002_000005"])
        self.assertEqual(len(self.pan["annotations"]), 8)

    def test_png_ids_match_json_and_areas(self):
        for ann in self.pan["annotations"]:
            ids = read_panoptic_png(os.path.join(self.root, "train", "panoptic_video", ann["file_name"]))
            values, counts = np.unique(ids, return_counts=True)
            png = dict(zip(values.tolist(), counts.tolist()))
            listed = {s["id"]: s for s in ann["segments_info"]}
            self.assertNotIn(0, png, "the synthetic scenes have no void pixels")
            self.assertEqual(set(png), set(listed))
            for seg_id, seg in listed.items():
                self.assertEqual(seg["area"], png[seg_id])
                ys, xs = np.nonzero(ids == seg_id)
                self.assertEqual(seg["bbox"], [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1])
                if seg["category_id"] in THING_IDS:
                    self.assertEqual(seg_id // 1000, seg["category_id"])
                else:
                    self.assertEqual(seg_id, STUFF_SEGMENT_ID[seg["category_id"]])

    def test_ids_stable_within_video_with_several_instances_per_class(self):
        by_video = defaultdict(lambda: defaultdict(set))  # video -> id -> categories
        frames_seen = defaultdict(lambda: defaultdict(int))
        for ann in self.pan["annotations"]:
            video = ann["image_id"][:4]
            for s in ann["segments_info"]:
                by_video[video][s["id"]].add(s["category_id"])
                frames_seen[video][s["id"]] += 1
        for video, segs in by_video.items():
            for seg_id, cats in segs.items():
                self.assertEqual(len(cats), 1, f"id {seg_id} changes class in video {video}")
        # tracked things: some id appears in both annotated frames of a video
        self.assertTrue(any(n == 2 and i // 1000 in THING_IDS for v in frames_seen.values() for i, n in v.items()))
        per_class = defaultdict(int)
        for ann in self.pan["annotations"]:
            for s in ann["segments_info"]:
                per_class[(ann["image_id"], s["category_id"])] += s["category_id"] in THING_IDS
        self.assertGreaterEqual(max(per_class.values()), 2, "no frame has two instances of one class")

    def test_scene_is_not_trivial(self):
        rng = np.random.default_rng(3)
        scene = build_world(rng, 64, 128, 30)
        self.assertGreater(len(set(scene.cam_x.tolist())), 5, "camera does not move")
        cats = [t.category for t in scene.things]
        self.assertTrue(any(c in (CAR, PERSON) for c in cats))
        # things enter or leave: the set of visible instances changes over the video
        visible = [frozenset(np.unique(render_frame(scene, t, rng)[1]).tolist()) for t in range(30)]
        self.assertGreater(len(set(visible)), 1)
        self.assertGreater(self.stats["partial_tracks"], 0)

    def test_things_occlude_each_other(self):
        occluded = 0
        for seed in range(5):
            rng = np.random.default_rng(seed)
            scene = build_world(rng, 64, 128, 30)
            for t in range(0, 30, 5):
                _, label, drawn = render_frame(scene, t, rng)
                for th in scene.things:
                    if th.instance not in drawn:
                        continue
                    mask, _ = thing_sprite(th, 64 / 128.0)
                    x, y = th.bottom_left(t)
                    x0, y0 = round(x - scene.cam_x[t]), round(y - scene.cam_y[t]) - mask.shape[0]
                    inside = x0 >= 0 and y0 >= 0 and x0 + mask.shape[1] <= 128 and y0 + mask.shape[0] <= 64
                    visible = (label == 1000 * th.category + th.instance).sum()
                    occluded += inside and th.category != RIDER and visible < mask.sum()
        self.assertGreater(occluded, 0, "no thing is ever partly hidden by another")

    def test_frames_have_texture_and_noise(self):
        rng = np.random.default_rng(0)
        scene = build_world(rng, 64, 128, 5)
        rgb, label, _ = render_frame(scene, 0, rng)
        road = rgb[label == 0]
        self.assertGreater(road.std(), 3.0, "stuff regions are flat colours")
        rgb2, _, _ = render_frame(scene, 0, np.random.default_rng(1))
        self.assertFalse(np.array_equal(rgb, rgb2), "noise does not depend on the generator")


def placed_mask(th, origin):
    """A thing's full sprite mask at frame 0 (128-px-high frames) in a 200x200 canvas whose
    (50, 150) is the world point ``origin``."""
    mask, _ = thing_sprite(th, 1.0)
    x, y = th.bottom_left(0)
    x0, y0 = int(round(x - origin[0])) + 50, int(round(y - origin[1])) + 150 - mask.shape[0]
    canvas = np.zeros((200, 200), bool)
    canvas[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]] = mask
    return canvas


class TestSyntheticLearnableAtQuickStartSize(unittest.TestCase):
    """At the quick start's 128x256, every class must be big and solid enough to be learned: the
    annotated frames of the 24 train videos (labels only, as ``write_synthetic_split`` draws them)."""

    VIDEOS, FRAMES, STRIDE, H, W = 24, 30, 5, 128, 256

    @classmethod
    def setUpClass(cls):
        cls.worlds = []
        cls.sizes = defaultdict(list)  # category -> [(area, box w, box h)] of its segments
        for v in range(1, cls.VIDEOS + 1):
            rng = np.random.default_rng([0, SPLIT_SEEDS["train"], v])
            scene = build_world(rng, cls.H, cls.W, cls.FRAMES)
            cls.worlds.append(scene)
            for f in range(cls.STRIDE, cls.FRAMES + 1, cls.STRIDE):
                _, segments = label_to_segments(render_frame(scene, f - 1, rng)[1])
                for s in segments:
                    cls.sizes[s["category_id"]].append((s["area"], s["bbox"][2], s["bbox"][3]))

    def test_things_are_solid_and_not_tiny(self):
        for cat in sorted(THING_IDS):
            sizes = np.array(self.sizes[cat], float)
            self.assertGreaterEqual(len(sizes), 20, f"class {cat} is rare")
            area, fill = np.median(sizes[:, 0]), np.median(sizes[:, 0] / sizes[:, 1] / sizes[:, 2])
            self.assertGreaterEqual(area, 150, f"class {cat}: median area {area} px")
            self.assertGreaterEqual(fill, 0.5, f"class {cat}: median fill {fill:.2f}")
        for cat in (PERSON, RIDER):
            width = np.median(np.array(self.sizes[cat])[:, 1])
            self.assertGreaterEqual(width, 7, f"class {cat} is {width} px wide")

    def test_stuff_is_in_most_frames(self):
        annotated = self.VIDEOS * self.FRAMES // self.STRIDE
        for cat in range(11):
            self.assertGreaterEqual(len(self.sizes[cat]), 0.6 * annotated, f"stuff class {cat} is rare")

    def test_poles_lights_and_signs_are_wide_enough(self):
        for scene in self.worlds:
            ground = int(np.nonzero((scene.labels == SIDEWALK).any(1))[0][0])  # poles stand on it
            runs = np.diff(np.flatnonzero(np.diff(np.r_[0, scene.labels[ground] == POLE, 0])))[::2]
            self.assertGreater(len(runs), 0)
            self.assertGreaterEqual(runs.min(), 4, "a pole is narrower than 4 px")
        light = np.median(np.array(self.sizes[TRAFFIC_LIGHT], float)[:, 1:], 0)
        sign = np.median(np.array(self.sizes[TRAFFIC_SIGN], float)[:, 1:], 0)
        self.assertTrue((light >= (10, 16)).all(), f"traffic light box {light}")
        self.assertTrue((sign >= 14).all(), f"traffic sign box {sign}")

    def test_fences_are_panels_not_combs(self):
        # labelled picket by picket, a fence row was a comb of 1-px runs that no model learns at 1/4
        seen = 0
        for scene in self.worlds:
            for row in scene.labels == FENCE:
                runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row, 0])))[::2]
                if len(runs):
                    seen += 1
                    self.assertLessEqual(len(runs), 4, "a fence row is split into many runs")
        self.assertGreater(seen, 0)

    def test_riders_leave_most_of_their_vehicle_visible(self):
        checked = 0
        for scene in self.worlds:
            things = {th.instance: th for th in scene.things}
            for th in scene.things:
                if th.category != RIDER:
                    continue
                vehicle = things[th.instance - 1]  # a rider follows its vehicle
                self.assertIn(vehicle.category, (BICYCLE, MOTORCYCLE))
                under = placed_mask(vehicle, vehicle.bottom_left(0))
                covered = (under & placed_mask(th, vehicle.bottom_left(0))).sum()
                self.assertLess(covered, 0.3 * under.sum(), "a rider hides most of its vehicle")
                self.assertGreater(covered, 0, "a rider floats above its vehicle")
                checked += 1
        self.assertGreater(checked, 5)


if __name__ == "__main__":
    unittest.main()
