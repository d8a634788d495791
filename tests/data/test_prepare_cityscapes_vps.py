"""datasets/prepare_cityscapes_vps.py on a tiny fake official release written here."""
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from vps_d2.data.categories import CITYSCAPES_VPS_CATEGORIES, category_metadata
from vps_d2.data.converters import cityscapes_vps
from vps_d2.data.converters.check import check_split
from vps_d2.data.converters.common import (
    ConversionError,
    build_segments,
    dense_labels,
    key_parts,
    thing_lut,
)
from vps_d2.data.dataset_mapper import VideoPanopticDatasetMapper
from vps_d2.data.datasets.cityscapes_vps import register_cityscapes_vps
from vps_d2.data.panoptic_io import id_to_rgb, read_panoptic_png

from ..common import REPO

sys.path.insert(0, os.path.join(REPO, "datasets"))
import prepare_cityscapes_vps as cli  # noqa: E402

H, W = 16, 32
COLOR = {c["name"]: tuple(c["color"]) for c in CITYSCAPES_VPS_CATEGORIES}
CAT = {c["name"]: c["id"] for c in CITYSCAPES_VPS_CATEGORIES}


def color_id(name):
    r, g, b = COLOR[name]
    return r + 256 * g + 65536 * b


SKY, ROAD = color_id("sky"), color_id("road")


def label_frame(j):
    """cls (RGB), inst (instanceIds) and the expected segment ids of annotated frame j.

    Objects: car A (26001) moving right, person k=0 (24000), a car group (value 26: crowd), an
    instance whose value says person but whose colour is rider (24005 -> rider), an instance whose
    majority colour is road (26002: dropped), car 26003 with one road-coloured pixel (the whole
    mask is the car), a truck (27001) from the second annotated frame on, a known void colour and
    an unknown colour.
    """
    cls = np.zeros((H, W, 3), np.uint8)
    inst = np.zeros((H, W), np.uint16)
    ids = np.zeros((H, W), np.int64)
    # expected ids: person 1, rider 2, car A 3, car 26003 4, truck 5 (order of first appearance:
    # frame, then class, then instance number); crowd 6 with --crowd segment

    def put(rows, cols, name, value, seg_id):
        cls[rows, cols] = COLOR[name]
        inst[rows, cols] = value
        ids[rows, cols] = seg_id

    put(slice(0, 4), slice(None), "sky", 23, SKY)
    put(slice(4, 16), slice(None), "road", 7, ROAD)
    put(slice(6, 10), slice(2 + j, 8 + j), "car", 26001, 3)
    put(slice(10, 14), slice(20, 23), "person", 24000, 1)
    put(slice(12, 15), slice(26, 30), "car", 26, 0)
    put(slice(4, 6), slice(12, 15), "rider", 24005, 2)
    put(slice(14, 16), slice(0, 4), "road", 26002, ROAD)
    put(slice(6, 10), slice(14, 18), "car", 26003, 4)
    cls[6, 14] = COLOR["road"]
    if j >= 1:
        put(slice(1, 3), slice(24, 28), "truck", 27001, 5)
    cls[15, 10:12] = (0, 0, 0)  # a Cityscapes void colour: void, no warning
    inst[15, 10:12] = 0
    ids[15, 10:12] = 0
    cls[15, 31] = (1, 2, 3)  # not a Cityscapes colour: void and a counted warning
    ids[15, 31] = 0
    return cls, inst, ids


CROWD = (slice(12, 15), slice(26, 30))

# video -> (city, seq, frame numbers, annotated frame numbers, first global annotated counter)
TRAIN = {1: ("aachen", "000001", range(1, 31), range(5, 31, 5), 1),
         2: ("aachen", "000002", range(101, 131), (125, 130), 7)}
VAL = {3: ("bremen", "000003", range(11, 21), (15, 20), 9)}
TEST = {4: ("berlin", "000004", range(31, 41), (35, 40), 11)}


def stem(city, seq, n):
    return f"{city}_{seq}_{n:06d}"


def image_ids(videos):
    out = {}
    for v, (city, seq, _, annotated, first) in videos.items():
        for k, n in enumerate(annotated):
            out[(v, n)] = f"{v:04d}_{first + k:04d}_{stem(city, seq, n)}"
    return out


def save_png(path, array, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)


def write_release(root):
    """The fake release (release/) and sequence frames (leftImg8bit_sequence/val/<city>/)."""
    rng = np.random.default_rng(0)
    rel = os.path.join(root, "release")
    cats = [dict(c, name="vegitation" if c["name"] == "vegetation" else c["name"])
            for c in CITYSCAPES_VPS_CATEGORIES]
    for split, videos in (("train", TRAIN), ("val", VAL), ("test", TEST)):
        images, all_images = [], []
        ids = image_ids(videos)
        for v, (city, seq, frames, annotated, _) in videos.items():
            for f, n in enumerate(frames, 1):
                name = stem(city, seq, n) + "_leftImg8bit.png"
                save_png(os.path.join(root, "leftImg8bit_sequence", "val", city, name),
                         rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
                all_images.append({"id": v * 10000 + f, "file_name": name, "width": W, "height": H})
            for j, n in enumerate(annotated):
                image_id = ids[(v, n)]
                gt_frame = split == "val" and n == annotated[-1]  # the original Cityscapes frame
                suffix = "leftImg8bit" if gt_frame else "newImg8bit"
                images.append({"id": image_id, "file_name": f"{image_id}_{suffix}.png",
                               "width": W, "height": H})
                if split == "test":
                    continue
                cls, inst, _ = label_frame(j)
                if gt_frame:  # Cityscapes gtFine colour images are RGBA
                    rgba = np.concatenate([cls, np.full((H, W, 1), 255, np.uint8)], axis=2)
                    save_png(os.path.join(rel, split, "cls", f"{image_id}_gtFine_color.png"), rgba)
                    save_png(os.path.join(rel, split, "inst",
                                          f"{image_id}_gtFine_instanceIds.png"), inst)
                else:
                    save_png(os.path.join(rel, split, "cls", f"{image_id}_final_mask.png"), cls)
                    save_png(os.path.join(rel, split, "inst", f"{image_id}_final_mask.png"), inst)
        with open(os.path.join(rel, f"panoptic_im_{split}_city_vps.json"), "w") as f:
            json.dump({"images": images, "categories": cats}, f)
        if split != "train":  # the release has no train frame list: the converter derives it
            with open(os.path.join(rel, f"im_all_info_{split}_city_vps.json"), "w") as f:
                json.dump({"images": all_images}, f)
    return rel, os.path.join(root, "leftImg8bit_sequence")


def run_main(*args):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def snapshot(root):
    files = {}
    for folder, _, names in os.walk(root):
        for n in names:
            path = os.path.join(folder, n)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = (f.read(), os.stat(path).st_mtime_ns)
    return files


def load_json(path):
    with open(path) as f:
        return json.load(f)


class TestSegmentBuilding(unittest.TestCase):
    """The bincount-based segment builder against a direct per-key computation."""

    def test_matches_reference(self):
        rng = np.random.default_rng(5)
        isthing = thing_lut(CITYSCAPES_VPS_CATEGORIES)
        for trial in range(20):
            cat_map = rng.choice(np.array([0, 2, 10, 11, 13, 18, 255], np.uint8), (23, 37))
            high = 2**31 if trial % 4 == 0 else 1000  # also the np.unique fallback
            inst_map = rng.choice(np.array([-1, 0, 3, 7, high - 1]), (23, 37))
            crowd = bool(trial % 2)
            keys, index, areas, boxes = build_segments(cat_map, inst_map, isthing, crowd)
            self.assertTrue((np.diff(keys) > 0).all(), "keys sorted and distinct")
            want_keys = set()
            for y in range(23):
                for x in range(37):
                    c, i = int(cat_map[y, x]), int(inst_map[y, x])
                    k = index[y, x]
                    if c == 255 or (isthing[c] and i < 0 and not crowd):
                        self.assertEqual(k, -1)
                        continue
                    kind = 0 if not isthing[c] else (1 if i >= 0 else 2)
                    self.assertEqual(key_parts(keys[k]), (c, kind, i if kind == 1 else 0))
                    want_keys.add(int(keys[k]))
            self.assertEqual(set(keys.tolist()), want_keys)
            for k in range(len(keys)):
                ys, xs = np.nonzero(index == k)
                self.assertEqual(areas[k], len(ys))
                self.assertEqual(boxes[k].tolist(),
                                 [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1])
        with self.assertRaises(ConversionError):
            build_segments(np.full((2, 2), 13, np.uint8), np.full((2, 2), 2**33), isthing, False)

    def test_dense_labels_is_unique(self):
        rng = np.random.default_rng(6)
        for values in (rng.integers(0, 2**24, (40, 50)), rng.integers(-5, 5, (7, 9)),
                       rng.integers(0, 3, (4, 4)).astype(np.uint16)):
            uniq, index, counts = dense_labels(values)
            ref, inverse, ref_counts = np.unique(values, return_inverse=True, return_counts=True)
            np.testing.assert_array_equal(uniq, ref)
            np.testing.assert_array_equal(index, inverse.reshape(values.shape))
            np.testing.assert_array_equal(counts, ref_counts)


class CityscapesVPSFixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vps_d2_cs_")
        cls.release, cls.sequences = write_release(cls.tmp)
        cls.out = os.path.join(cls.tmp, "out")
        cls.code, cls.stdout, cls.stderr = run_main(
            "--release", cls.release, "--sequences", cls.sequences, "--out", cls.out, "--quiet")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def convert(self, out, *extra):
        return run_main("--release", self.release, "--sequences", self.sequences, "--out", out,
                        "--quiet", *extra)


class TestConvertedOutput(CityscapesVPSFixture):
    def test_exit_and_summary(self):
        self.assertEqual(self.code, 0, self.stderr)
        self.assertIn("cityscapes_vps train: 2 videos, 60 frames, 8 annotated", self.stdout)
        self.assertIn("cityscapes_vps val: 1 videos, 10 frames, 2 annotated", self.stdout)
        self.assertIn("cityscapes_vps test: 1 videos, 10 frames, 0 annotated", self.stdout)
        # one unknown-colour pixel per labelled frame, counted per split, not an error
        self.assertIn("warning: unknown class colour (made void): 8 pixel(s) in 8 frame(s), e.g. "
                      "RGB (1, 2, 3)", self.stdout)
        self.assertIn("warning: unknown class colour (made void): 2 pixel(s) in 2 frame(s)",
                      self.stdout)
        self.assertFalse([f for _, _, fs in os.walk(self.out) for f in fs if ".tmp" in f])

    def test_frame_lists(self):
        train = load_json(os.path.join(self.out, "im_all_info_train_city_vps.json"))["images"]
        self.assertEqual([im["id"] for im in train],
                         [10000 + f for f in range(1, 31)] + [20000 + f for f in range(1, 31)])
        self.assertEqual(train[0], {"id": 10001, "width": W, "height": H,
                                    "file_name": "aachen_000001_000001_leftImg8bit.png"})
        self.assertEqual(train[30]["file_name"], "aachen_000002_000101_leftImg8bit.png")
        val = load_json(os.path.join(self.out, "im_all_info_val_city_vps.json"))["images"]
        self.assertEqual([im["id"] for im in val], [30000 + f for f in range(1, 11)])
        for split, videos in (("train", TRAIN), ("val", VAL), ("test", TEST)):
            for v, (city, seq, frames, _, _) in videos.items():
                for n in frames:
                    name = stem(city, seq, n) + "_leftImg8bit.png"
                    with open(os.path.join(self.out, split, "img_all", name), "rb") as a, open(
                            os.path.join(self.sequences, "val", city, name), "rb") as b:
                        self.assertEqual(a.read(), b.read(), name)

    def test_test_split_has_frames_and_image_lists_only(self):
        self.assertTrue(os.path.isfile(os.path.join(self.out, "im_all_info_test_city_vps.json")))
        self.assertFalse(os.path.exists(os.path.join(self.out, "panoptic_gt_test_city_vps.json")))
        self.assertFalse(os.path.exists(os.path.join(self.out, "test", "panoptic_video")))
        listed = load_json(os.path.join(self.out, "panoptic_im_test_city_vps.json"))
        self.assertEqual([im["id"] for im in listed["images"]], ["0004_0011_berlin_000004_000035",
                                                                 "0004_0012_berlin_000004_000040"])

    def test_ids_categories_areas_exactly(self):
        gt = load_json(os.path.join(self.out, "panoptic_gt_train_city_vps.json"))
        self.assertEqual([c["id"] for c in gt["categories"]], list(range(19)))
        ids = image_ids(TRAIN)
        self.assertEqual([im["id"] for im in gt["images"]],
                         [ids[(1, n)] for n in TRAIN[1][3]] + [ids[(2, n)] for n in TRAIN[2][3]])
        anns = {a["image_id"]: a for a in gt["annotations"]}
        expected_cat = {SKY: CAT["sky"], ROAD: CAT["road"], 1: CAT["person"], 2: CAT["rider"],
                        3: CAT["car"], 4: CAT["car"], 5: CAT["truck"]}
        for v in (1, 2):
            for j, n in enumerate(TRAIN[v][3]):
                ann = anns[ids[(v, n)]]
                self.assertEqual(ann["file_name"], f"{ids[(v, n)]}_final_mask.png")
                png = read_panoptic_png(
                    os.path.join(self.out, "train", "panoptic_video", ann["file_name"]))
                want = label_frame(j)[2]
                np.testing.assert_array_equal(png, want, f"video {v} frame {n}")
                segs = ann["segments_info"]
                self.assertEqual([s["id"] for s in segs],
                                 sorted(set(np.unique(want).tolist()) - {0}))
                for s in segs:
                    ys, xs = np.nonzero(want == s["id"])
                    self.assertEqual(s["category_id"], expected_cat[s["id"]])
                    self.assertEqual(s["iscrowd"], 0)
                    self.assertEqual(s["area"], len(ys))
                    self.assertEqual(s["bbox"], [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1])
        # spot checks of the released semantics on the first frame
        first = read_panoptic_png(os.path.join(self.out, "train", "panoptic_video",
                                               f"{ids[(1, 5)]}_final_mask.png"))
        self.assertTrue((first[CROWD] == 0).all(), "a car group without instance is void")
        self.assertEqual(first[6, 14], 4, "an object claims its whole inst mask")
        self.assertTrue((first[14:16, 0:4] == ROAD).all(),
                        "an instance that is mostly road is dropped")
        self.assertEqual(first[4, 12], 2, "class from the colour (rider), not from value // 1000")

    def test_identity_across_frames_and_videos(self):
        gt = load_json(os.path.join(self.out, "panoptic_gt_train_city_vps.json"))
        by_video = {}
        for a in gt["annotations"]:
            png = read_panoptic_png(
                os.path.join(self.out, "train", "panoptic_video", a["file_name"]))
            by_video.setdefault(int(a["image_id"][:4]), []).append(png)
        for v, pngs in by_video.items():
            for j, png in enumerate(pngs):
                self.assertEqual(png[7, 2 + j], 3, "car A keeps its id while it moves")
                self.assertEqual(png[11, 21], 1)
        # ids restart per video: video 2's first frame looks like video 1's first frame
        np.testing.assert_array_equal(by_video[2][0], by_video[1][0])

    def test_val_uses_released_frame_list_and_names(self):
        gt = load_json(os.path.join(self.out, "panoptic_gt_val_city_vps.json"))
        self.assertEqual([a["file_name"] for a in gt["annotations"]],
                         ["0003_0009_bremen_000003_000015_final_mask.png",
                          "0003_0010_bremen_000003_000020_gtFine_color.png"])
        self.assertEqual(gt["images"][1]["file_name"],
                         "0003_0010_bremen_000003_000020_leftImg8bit.png")
        png = read_panoptic_png(os.path.join(self.out, "val", "panoptic_video",
                                             gt["annotations"][1]["file_name"]))
        np.testing.assert_array_equal(png, label_frame(1)[2])  # RGBA colour image read as RGB

    def test_loads_through_loader_and_mapper(self):
        meta = dict(category_metadata(CITYSCAPES_VPS_CATEGORIES), annotation_stride=5)
        register_cityscapes_vps("test_prepared_cs_train", self.out, "train", meta, "(test)")
        try:
            videos = DatasetCatalog.get("test_prepared_cs_train")
        finally:
            DatasetCatalog.remove("test_prepared_cs_train")
            MetadataCatalog.remove("test_prepared_cs_train")
        self.assertEqual([v["video_id"] for v in videos], [1, 2])
        self.assertEqual([i for i, a in enumerate(videos[0]["annotated"]) if a],
                         [4, 9, 14, 19, 24, 29])
        self.assertEqual([i for i, a in enumerate(videos[1]["annotated"]) if a], [24, 29])
        semantic = meta["stuff_dataset_id_to_contiguous_id"]
        things = meta["thing_dataset_id_to_contiguous_id"]
        stuff_ids = [d for d in sorted(semantic, key=semantic.get) if d not in things]
        mapper = VideoPanopticDatasetMapper(
            True, augmentations=[], image_format="RGB",
            semantic_to_thing={semantic[d]: c for d, c in things.items()},
            semantic_to_stuff={semantic[d]: i for i, d in enumerate(stuff_ids)})
        np.random.seed(0)
        out = mapper(videos[0])
        for frame in out["frames"]:
            inst = frame["instances"]
            j = videos[0]["frame_ids"][frame["frame_index"]] % 10000 // 5 - 1
            want = {1: things[CAT["person"]], 2: things[CAT["rider"]], 3: things[CAT["car"]],
                    4: things[CAT["car"]]}
            if j >= 1:
                want[5] = things[CAT["truck"]]
            self.assertEqual(dict(zip(inst.gt_ids.tolist(), inst.gt_classes.tolist())), want)
            self.assertEqual(tuple(frame["image"].shape), (3, H, W))
            sem = frame["sem_seg"].numpy()
            self.assertEqual(sem[0, 0], CAT["sky"])
            self.assertTrue((sem[CROWD] == 255).all())

    def test_check_mode_accepts_the_output(self):
        code, out, err = run_main("--check", "--out", self.out)
        self.assertEqual(code, 0, out + err)
        self.assertIn("cityscapes_vps train: 2 videos, 60 frames, 8 annotated, 10 thing tracks, "
                      "0 crowd segments", out)
        self.assertIn("8 person, 8 rider, 16 car, 6 truck", out)
        self.assertEqual(out.count("  OK"), 3)


class TestOptionsAndResume(CityscapesVPSFixture):
    def test_crowd_segment_option(self):
        out = os.path.join(self.tmp, "crowd")
        code, _, err = self.convert(out, "--split", "train", "--crowd", "segment")
        self.assertEqual(code, 0, err)
        gt = load_json(os.path.join(out, "panoptic_gt_train_city_vps.json"))
        first = gt["annotations"][0]
        png = read_panoptic_png(os.path.join(out, "train", "panoptic_video", first["file_name"]))
        crowd_id = 5  # after person 1, rider 2, car 3 and 4 (crowd sorts after the class's objects)
        self.assertTrue((png[CROWD] == crowd_id).all())
        seg = next(s for s in first["segments_info"] if s["id"] == crowd_id)
        self.assertEqual((seg["category_id"], seg["iscrowd"], seg["area"]), (CAT["car"], 1, 12))
        second = read_panoptic_png(os.path.join(out, "train", "panoptic_video",
                                                gt["annotations"][1]["file_name"]))
        self.assertTrue((second[CROWD] == crowd_id).all(), "the crowd region keeps its id")
        self.assertEqual(second[1, 24], 6, "the truck comes after the crowd id")
        self.assertEqual(check_split(out, "train", CITYSCAPES_VPS_CATEGORIES)["problems"], [])
        self.assertFalse(os.path.exists(os.path.join(out, "im_all_info_val_city_vps.json")))

    def test_second_run_skips_and_writes_identical_bytes(self):
        out = os.path.join(self.tmp, "again")
        shutil.copytree(self.out, out)
        before = snapshot(out)
        code, stdout, err = self.convert(out)
        self.assertEqual(code, 0, err)
        self.assertIn("(this run: 0 frames placed, 0 labels written, 2 videos already done)",
                      stdout)
        after = snapshot(out)
        self.assertEqual(set(after), set(before))
        for name, (data, mtime) in before.items():
            self.assertEqual(after[name][0], data, name)
            if not name.endswith(".json"):
                self.assertEqual(after[name][1], mtime, f"{name} was rewritten")

    def test_interrupted_run_resumes_to_the_same_bytes(self):
        out = os.path.join(self.tmp, "interrupted")
        real = cityscapes_vps.cityscapes_labels
        calls = []

        def failing(inputs, ctx):
            calls.append(1)
            if len(calls) == 4:
                raise KeyboardInterrupt
            return real(inputs, ctx)

        with mock.patch.object(cityscapes_vps, "cityscapes_labels", failing):
            code, _, err = self.convert(out, "--split", "train")
        self.assertEqual(code, 130)
        self.assertIn("run the same command again to resume", err)
        self.assertFalse(os.path.exists(os.path.join(out, "panoptic_gt_train_city_vps.json")))
        self.assertFalse([f for _, _, fs in os.walk(out) for f in fs if ".tmp" in f])
        # a lost label PNG and frame are redone too
        os.remove(os.path.join(out, "train", "img_all", "aachen_000001_000007_leftImg8bit.png"))
        code, _, err = self.convert(out, "--split", "train")
        self.assertEqual(code, 0, err)
        want = {k: v[0] for k, v in snapshot(self.out).items() if "train" in k}
        got = {k: v[0] for k, v in snapshot(out).items()}
        self.assertEqual(sorted(got), sorted(want))
        for name in want:
            self.assertEqual(got[name], want[name], name)

    def test_link_modes(self):
        for mode in ("hardlink", "symlink"):
            out = os.path.join(self.tmp, mode)
            code, _, err = self.convert(out, "--split", "val", "--link", mode)
            self.assertEqual(code, 0, err)
            frame = os.path.join(out, "val", "img_all", "bremen_000003_000011_leftImg8bit.png")
            src = os.path.join(self.sequences, "val", "bremen",
                               "bremen_000003_000011_leftImg8bit.png")
            self.assertTrue(os.path.samefile(frame, src))
            self.assertEqual(os.path.islink(frame), mode == "symlink")

    def test_workers_give_the_same_output(self):
        out = os.path.join(self.tmp, "workers")
        code, _, err = self.convert(out, "--split", "train", "--workers", "2")
        self.assertEqual(code, 0, err)
        want = {k: v[0] for k, v in snapshot(self.out).items() if "train" in k}
        self.assertEqual({k: v[0] for k, v in snapshot(out).items()}, want)


class TestErrors(CityscapesVPSFixture):
    def assert_user_error(self, out, code, err, *fragments):
        self.assertEqual(code, 2)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("prepare_cityscapes_vps.py: error: "), err)
        for fragment in fragments:
            self.assertIn(fragment, lines[0])
        self.assertFalse(os.path.exists(out) and [f for _, _, fs in os.walk(out) for f in fs],
                         "nothing may be written")

    def broken_release(self, name):
        release = os.path.join(self.tmp, name)
        shutil.copytree(self.release, release)
        return release

    def test_missing_folder_subprocess_no_traceback(self):
        out = os.path.join(self.tmp, "never")
        proc = subprocess.run(
            [sys.executable, os.path.join(REPO, "datasets", "prepare_cityscapes_vps.py"),
             "--release", os.path.join(self.tmp, "nope"), "--sequences", self.sequences,
             "--out", out],
            capture_output=True, text=True)
        self.assertNotIn("Traceback", proc.stderr)
        self.assert_user_error(out, proc.returncode, proc.stderr, "nope is not a folder")

    def test_missing_inst_folder(self):
        release = self.broken_release("no_inst")
        shutil.rmtree(os.path.join(release, "val", "inst"))
        out = os.path.join(self.tmp, "out_no_inst")
        code, _, err = run_main("--release", release, "--sequences", self.sequences, "--out", out)
        self.assert_user_error(out, code, err, "inst is not a folder", "instance labels")

    def test_frame_without_its_label(self):
        release = self.broken_release("no_label")
        os.remove(os.path.join(release, "train", "inst",
                               "0001_0002_aachen_000001_000010_final_mask.png"))
        out = os.path.join(self.tmp, "out_no_label")
        code, _, err = run_main("--release", release, "--sequences", self.sequences, "--out", out)
        self.assert_user_error(out, code, err, "1 label file(s) missing in train",
                               "0001_0002_aachen_000001_000010 has no inst label")

    def test_missing_sequence_frame(self):
        seq = os.path.join(self.tmp, "seq_missing")
        shutil.copytree(self.sequences, seq)
        os.remove(os.path.join(seq, "val", "bremen", "bremen_000003_000012_leftImg8bit.png"))
        out = os.path.join(self.tmp, "out_no_frame")
        code, _, err = run_main("--release", self.release, "--sequences", seq, "--out", out)
        self.assert_user_error(out, code, err, "1 frame(s) of val are not in",
                               "bremen_000003_000012_leftImg8bit.png")

    def test_unknown_colour_strict(self):
        out = os.path.join(self.tmp, "out_strict")
        code, _, err = run_main("--release", self.release, "--sequences", self.sequences,
                                "--out", out, "--quiet", "--split", "val", "--strict")
        self.assertEqual(code, 2)
        self.assertIn("unknown class colour (made void): RGB (1, 2, 3) in", err)
        self.assertFalse(os.path.exists(os.path.join(out, "panoptic_gt_val_city_vps.json")))

    def test_rgb_instance_png(self):
        release = self.broken_release("rgb_inst")
        path = os.path.join(release, "val", "inst", "0003_0009_bremen_000003_000015_final_mask.png")
        save_png(path, np.zeros((H, W, 3), np.uint8))
        out = os.path.join(self.tmp, "out_rgb_inst")
        code, _, err = run_main("--release", release, "--sequences", self.sequences, "--out", out,
                                "--quiet", "--split", "val")
        self.assertEqual(code, 2)
        self.assertIn("expected a single-channel instanceIds PNG (16-bit), got mode RGB", err)

    def test_missing_required_flag(self):
        out = os.path.join(self.tmp, "out_flag")
        code, _, err = run_main("--release", self.release, "--out", out)
        self.assert_user_error(out, code, err, "--sequences is required")

    def test_check_finds_problems(self):
        out = os.path.join(self.tmp, "tampered")
        shutil.copytree(self.out, out)
        gt_path = os.path.join(out, "panoptic_gt_val_city_vps.json")
        gt = load_json(gt_path)
        gt["annotations"][0]["segments_info"][0]["area"] += 1
        with open(gt_path, "w") as f:
            json.dump(gt, f)
        png = os.path.join(out, "val", "panoptic_video", gt["annotations"][1]["file_name"])
        ids = read_panoptic_png(png)
        ids[0, 0] = 999
        Image.fromarray(id_to_rgb(ids)).save(png)
        os.remove(os.path.join(out, "val", "img_all", "bremen_000003_000013_leftImg8bit.png"))
        code, stdout, _ = run_main("--check", "--out", out, "--split", "val")
        self.assertEqual(code, 1)
        self.assertIn("4 problem(s)", stdout)  # the overwritten sky pixel changes its area too
        self.assertIn("bremen_000003_000013_leftImg8bit.png is missing", stdout)
        self.assertIn("has area 13 but 12 pixels", stdout)
        self.assertIn("id 999 is in the PNG but not in segments_info", stdout)


if __name__ == "__main__":
    unittest.main()
