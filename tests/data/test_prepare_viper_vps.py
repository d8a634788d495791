"""datasets/prepare_viper_vps.py on a tiny fake raw VIPER tree written here."""
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest
from unittest import mock

import numpy as np
from detectron2.data import DatasetCatalog, MetadataCatalog
from PIL import Image

from vps_d2.data.categories import VIPER_VPS_CATEGORIES, category_metadata
from vps_d2.data.converters import viper
from vps_d2.data.dataset_mapper import VideoPanopticDatasetMapper
from vps_d2.data.datasets.builtin import VIPER_EVAL_OPTIONS
from vps_d2.data.datasets.cityscapes_vps import register_cityscapes_vps
from vps_d2.data.panoptic_io import read_panoptic_png

from ..common import REPO

sys.path.insert(0, os.path.join(REPO, "datasets"))
import prepare_viper_vps as cli  # noqa: E402

H, W = 12, 20
VPS = {c["name"]: c for c in VIPER_VPS_CATEGORIES}
RAW = {c["name"]: c["viper_id"] for c in VIPER_VPS_CATEGORIES}
RAW.update({name: i for i, name in viper.VIPER_VOID_NAMES.items()})


def color_id(name):
    r, g, b = VPS[name]["color"]
    return r + 256 * g + 65536 * b


SKY, ROAD, BARRIER = color_id("sky"), color_id("road"), color_id("mobilebarrier")


def label_frame(j):
    """cls (raw class ids), inst (RGB) and the expected segment ids of frame j of a sequence.

    Objects: a car (id 257 = G 1, B 1) moving right, a person (id 5) with one pixel whose inst
    class disagrees, a traffic light (id 2), a mobile barrier (stuff), a bicycle (a void class),
    car pixels without an instance id (void), an unknown class id (void + warning) and, from frame 2
    on, a second car (id 258).
    """
    cls = np.zeros((H, W), np.uint8)
    inst = np.zeros((H, W, 3), np.uint8)
    ids = np.zeros((H, W), np.int64)
    # expected ids: traffic light 1, person 2, car 257 -> 3, car 258 -> 4 (first appearance, then
    # VPS class and instance id)

    def put(rows, cols, name, number, seg_id):
        cls[rows, cols] = RAW[name]
        inst[rows, cols] = (RAW[name], number // 256, number % 256)
        ids[rows, cols] = seg_id

    put(slice(0, 3), slice(None), "sky", 0, SKY)
    put(slice(3, 12), slice(None), "road", 0, ROAD)
    put(slice(4, 8), slice(2 + j, 7 + j), "car", 257, 3)
    put(slice(8, 11), slice(12, 14), "person", 5, 2)
    inst[8, 12, 0] = RAW["car"]  # disagreeing inst class: counted, cls wins
    put(3, slice(15, 20), "mobilebarrier", 0, BARRIER)
    put(11, slice(0, 4), "bicycle", 9, 0)
    put(slice(0, 2), slice(17, 19), "trafficlight", 2, 1)
    put(slice(9, 11), slice(16, 18), "car", 0, 0)
    if j >= 2:
        put(slice(4, 6), slice(15, 17), "car", 258, 4)
    cls[11, 19] = 40  # not a VIPER class
    inst[11, 19] = (40, 0, 0)
    ids[11, 19] = 0
    return cls, inst, ids


SEQUENCES = {"train": {"001": (3, ".jpg", "day"), "002": (2, ".png", "night")},
             "val": {"003": (2, ".jpg", "day")}}
FRAME_STEP = 10  # VIPER file names number the frames 00000, 00010, ...


def palette_png(path, array):
    im = Image.fromarray(array, "P")
    im.putpalette([v for i in range(256) for v in ((i * 7) % 256, (i * 13) % 256, (i * 29) % 256)])
    im.save(path)


def write_viper(root):
    os.makedirs(root)
    rng = np.random.default_rng(1)
    names = {c["viper_id"]: c["name"] for c in VIPER_VPS_CATEGORIES}
    names.update(viper.VIPER_VOID_NAMES)
    with open(os.path.join(root, "classes.csv"), "w") as f:
        f.write("id,name,red,green,blue\n")
        for i in sorted(names):
            f.write(f"{i},{names[i]},0,0,0\n")
    for split, seqs in SEQUENCES.items():
        for seq, (n, ext, _) in seqs.items():
            for sub in ("img", "cls", "inst", "flow"):
                os.makedirs(os.path.join(root, split, sub, seq), exist_ok=True)
            for j in range(n):
                name = f"{seq}_{j * FRAME_STEP:05d}"
                frame = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
                Image.fromarray(frame).save(os.path.join(root, split, "img", seq, name + ext))
                cls, inst, _ = label_frame(j)
                palette_png(os.path.join(root, split, "cls", seq, name + ".png"), cls)
                Image.fromarray(inst).save(os.path.join(root, split, "inst", seq, name + ".png"))
                np.savez_compressed(os.path.join(root, split, "flow", seq, name + ".npz"),
                                    u=np.full((H, W), j, np.float16),
                                    v=np.zeros((H, W), np.float16))
    with open(os.path.join(root, "train", "weather.csv"), "w") as f:
        f.write("sequence,weather\n")
        for seq, (_, _, cond) in SEQUENCES["train"].items():
            f.write(f"{seq},{cond}\n")


def run_main(*args):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


def load_json(path):
    with open(path) as f:
        return json.load(f)


def contents(root):
    out = {}
    for folder, _, names in os.walk(root):
        for n in names:
            with open(os.path.join(folder, n), "rb") as f:
                out[os.path.relpath(os.path.join(folder, n), root)] = f.read()
    return out


class ViperFixture(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vps_d2_viper_")
        cls.viper = os.path.join(cls.tmp, "viper")
        write_viper(cls.viper)
        cls.out = os.path.join(cls.tmp, "out")
        cls.code, cls.stdout, cls.stderr = run_main("--viper", cls.viper, "--out", cls.out,
                                                    "--quiet", "--flow")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def convert(self, out, *extra, viper_root=None):
        return run_main("--viper", viper_root or self.viper, "--out", out, "--quiet", *extra)

    def copy_viper(self, name):
        root = os.path.join(self.tmp, name)
        shutil.copytree(self.viper, root)
        return root


class TestViperOutput(ViperFixture):
    def test_exit_and_summary(self):
        self.assertEqual(self.code, 0, self.stderr)
        self.assertIn("viper_vps train: 2 videos, 5 frames, 5 annotated, 7 thing tracks",
                      self.stdout)
        self.assertIn("viper_vps val: 1 videos, 2 frames, 2 annotated", self.stdout)
        self.assertIn("warning: unknown VIPER class id (made void): 5 pixel(s) in 5 frame(s), e.g. "
                      "class 40 in", self.stdout)
        self.assertIn("warning: inst class (R) differs from cls (cls used): 5 pixel(s) in 5 "
                      "frame(s)", self.stdout)
        self.assertNotIn("no classes.csv", self.stdout)

    def test_frames_names_and_ids(self):
        info = load_json(os.path.join(self.out, "im_all_info_train_city_vps.json"))["images"]
        self.assertEqual([(im["id"], im["file_name"]) for im in info], [
            (10001, "viper_001_00000.jpg"), (10002, "viper_001_00010.jpg"),
            (10003, "viper_001_00020.jpg"), (20001, "viper_002_00000.png"),
            (20002, "viper_002_00010.png")])
        for im in info:
            seq, frame = im["file_name"][6:9], im["file_name"][10:15]
            ext = os.path.splitext(im["file_name"])[1]
            src = os.path.join(self.viper, "train", "img", seq, f"{seq}_{frame}{ext}")
            with open(os.path.join(self.out, "train", "img_all", im["file_name"]), "rb") as a:
                with open(src, "rb") as b:
                    self.assertEqual(a.read(), b.read(), "frames are copied, not re-encoded")
        gt = load_json(os.path.join(self.out, "panoptic_gt_train_city_vps.json"))
        self.assertEqual([im["id"] for im in gt["images"]], [
            "0001_0001_viper_001_00000", "0001_0002_viper_001_00010", "0001_0003_viper_001_00020",
            "0002_0001_viper_002_00000", "0002_0002_viper_002_00010"])
        self.assertEqual(gt["annotations"][0]["file_name"], "0001_0001_viper_001_00000.png")
        self.assertEqual([c["id"] for c in gt["categories"]], list(range(23)))

    def test_ids_categories_areas_exactly(self):
        gt = load_json(os.path.join(self.out, "panoptic_gt_train_city_vps.json"))
        cat = {SKY: VPS["sky"]["id"], ROAD: VPS["road"]["id"], BARRIER: VPS["mobilebarrier"]["id"],
               1: VPS["trafficlight"]["id"], 2: VPS["person"]["id"], 3: VPS["car"]["id"],
               4: VPS["car"]["id"]}
        self.assertEqual((cat[ROAD], cat[3], cat[2], cat[1], cat[BARRIER]), (1, 19, 17, 13, 11))
        for ann in gt["annotations"]:
            j = int(ann["image_id"][5:9]) - 1
            png = read_panoptic_png(
                os.path.join(self.out, "train", "panoptic_video", ann["file_name"]))
            want = label_frame(j)[2]
            np.testing.assert_array_equal(png, want, ann["image_id"])
            segs = ann["segments_info"]
            self.assertEqual([s["id"] for s in segs], sorted(set(np.unique(want).tolist()) - {0}))
            for s in segs:
                ys, xs = np.nonzero(want == s["id"])
                self.assertEqual((s["category_id"], s["iscrowd"], s["area"]),
                                 (cat[s["id"]], 0, len(ys)))
                self.assertEqual(s["bbox"], [xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1])
        self.assertEqual(len(gt["annotations"]), 5, "every frame is annotated")

    def test_flow_is_copied(self):
        for j in range(3):
            name = f"viper_001_{j * FRAME_STEP:05d}.npz"
            with open(os.path.join(self.out, "train", "flow", name), "rb") as a, open(
                    os.path.join(self.viper, "train", "flow", "001", name[6:]), "rb") as b:
                self.assertEqual(a.read(), b.read())

    def test_loads_through_loader_and_mapper(self):
        meta = dict(category_metadata(VIPER_VPS_CATEGORIES), annotation_stride=1,
                    **VIPER_EVAL_OPTIONS)
        register_cityscapes_vps("test_prepared_viper_train", self.out, "train", meta, "(test)")
        try:
            videos = DatasetCatalog.get("test_prepared_viper_train")
        finally:
            DatasetCatalog.remove("test_prepared_viper_train")
            MetadataCatalog.remove("test_prepared_viper_train")
        self.assertEqual([(v["video_id"], v["annotated"]) for v in videos],
                         [(1, [True] * 3), (2, [True] * 2)])
        semantic = meta["stuff_dataset_id_to_contiguous_id"]
        things = meta["thing_dataset_id_to_contiguous_id"]
        stuff_ids = [d for d in sorted(semantic, key=semantic.get) if d not in things]
        mapper = VideoPanopticDatasetMapper(
            True, augmentations=[], image_format="RGB", ref_range=1,
            semantic_to_thing={semantic[d]: c for d, c in things.items()},
            semantic_to_stuff={semantic[d]: i for i, d in enumerate(stuff_ids)})
        np.random.seed(3)
        out = mapper(videos[0])
        target, ref = out["frames"]
        self.assertEqual(abs(target["frame_index"] - ref["frame_index"]), 1)
        for frame in (target, ref):
            inst = frame["instances"]
            want = {1: things[13], 2: things[17], 3: things[19]}
            if frame["frame_index"] == 2:
                want[4] = things[19]
            self.assertEqual(dict(zip(inst.gt_ids.tolist(), inst.gt_classes.tolist())), want)
            self.assertEqual(frame["sem_seg"][11, 0].item(), 255, "a void class is ignored")
            self.assertEqual(frame["sem_seg"][3, 16].item(), VPS["mobilebarrier"]["id"])

    def test_check_mode(self):
        code, out, err = run_main("--check", "--out", self.out)
        self.assertEqual(code, 0, out + err)
        self.assertIn("viper_vps train: 2 videos, 5 frames, 5 annotated, 7 thing tracks, "
                      "0 crowd segments", out)
        self.assertIn("5 mobilebarrier", out)
        self.assertEqual(out.count("  OK"), 2)


class TestViperOptions(ViperFixture):
    def test_condition_day(self):
        out = os.path.join(self.tmp, "day")
        code, stdout, err = self.convert(out, "--split", "train", "--condition", "day")
        self.assertEqual(code, 0, err)
        info = load_json(os.path.join(out, "im_all_info_train_city_vps.json"))["images"]
        self.assertEqual({im["id"] // 10000 for im in info}, {1})

    def test_condition_without_conditions_file(self):
        out = os.path.join(self.tmp, "day_val")
        code, _, err = self.convert(out, "--split", "val", "--condition", "day")
        self.assertEqual(code, 2)
        self.assertIn("--condition needs each sequence's condition", err)
        self.assertIn("give --conditions FILE", err)
        self.assertFalse(os.path.exists(out))
        csv = os.path.join(self.tmp, "val_conditions.csv")
        with open(csv, "w") as f:
            f.write("3,day\n")
        code, _, err = self.convert(out, "--split", "val", "--condition", "day",
                                    "--conditions", csv)
        self.assertEqual(code, 0, err)

    def test_crowd_segment(self):
        out = os.path.join(self.tmp, "crowd")
        code, _, err = self.convert(out, "--split", "val", "--crowd", "segment")
        self.assertEqual(code, 0, err)
        gt = load_json(os.path.join(out, "panoptic_gt_val_city_vps.json"))
        png = read_panoptic_png(
            os.path.join(out, "val", "panoptic_video", gt["annotations"][0]["file_name"]))
        crowd = png[9, 16]
        self.assertTrue((png[9:11, 16:18] == crowd).all() and crowd == 4)  # after the car (3)
        seg = next(s for s in gt["annotations"][0]["segments_info"] if s["id"] == crowd)
        self.assertEqual((seg["category_id"], seg["iscrowd"], seg["area"]), (19, 1, 4))

    def test_interrupted_run_resumes_from_its_checkpoint(self):
        clean = os.path.join(self.tmp, "clean")
        viper.convert(self.viper, clean, splits=["train"], quiet=True)
        out = os.path.join(self.tmp, "resumed")
        real = viper.viper_labels
        calls, fail_at = [], [3]

        def failing(inputs, ctx):
            calls.append(inputs["cls"])
            if len(calls) == fail_at[0]:
                raise RuntimeError("power cut")
            return real(inputs, ctx)

        with mock.patch.object(viper, "viper_labels", failing):
            with self.assertRaises(RuntimeError):
                viper.convert(self.viper, out, splits=["train"], quiet=True, checkpoint_every=1)
            self.assertFalse(os.path.exists(os.path.join(out, "panoptic_gt_train_city_vps.json")))
            calls.clear()
            fail_at[0] = None
            summaries, _ = viper.convert(self.viper, out, splits=["train"], quiet=True,
                                         checkpoint_every=1)
        # frames 00000 and 00010 of sequence 001 were checkpointed: only 3 labels are computed
        self.assertEqual(summaries[0]["frames_labelled"], 3)
        self.assertNotIn(os.path.join(self.viper, "train", "cls", "001", "001_00000.png"), calls)
        self.assertEqual(contents(out), contents(clean))

    def test_second_run_skips(self):
        out = os.path.join(self.tmp, "twice")
        shutil.copytree(self.out, out)
        before = contents(out)
        code, stdout, err = self.convert(out, "--flow")
        self.assertEqual(code, 0, err)
        self.assertIn("(this run: 0 frames placed, 0 labels written, 2 videos already done)",
                      stdout)
        self.assertEqual(contents(out), before)


class TestViperErrors(ViperFixture):
    def assert_error(self, out, code, err, *fragments):
        self.assertEqual(code, 2)
        lines = err.strip().splitlines()
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].startswith("prepare_viper_vps.py: error: "), err)
        for fragment in fragments:
            self.assertIn(fragment, lines[0])
        self.assertFalse(os.path.exists(out), "nothing may be written")

    def test_missing_folder(self):
        out = os.path.join(self.tmp, "e1")
        code, _, err = self.convert(out, viper_root=os.path.join(self.tmp, "nope"))
        self.assert_error(out, code, err, "nope is not a folder")
        root = self.copy_viper("no_inst")
        shutil.rmtree(os.path.join(root, "val", "inst"))
        code, _, err = self.convert(out, viper_root=root)
        self.assert_error(out, code, err,
                          "val/inst is not a folder (expected the VIPER val instance")

    def test_frame_without_label(self):
        root = self.copy_viper("no_label")
        os.remove(os.path.join(root, "train", "cls", "002", "002_00010.png"))
        out = os.path.join(self.tmp, "e2")
        code, _, err = self.convert(out, viper_root=root)
        self.assert_error(out, code, err, "1 label file(s) missing in train",
                          "002_00010.png has no cls label")

    def test_rgb_class_png(self):
        root = self.copy_viper("rgb_cls")
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(
            os.path.join(root, "val", "cls", "003", "003_00010.png"))
        out = os.path.join(self.tmp, "e3")
        code, _, err = self.convert(out, "--split", "val", viper_root=root)
        self.assertEqual(code, 2)
        self.assertIn("expected an 8-bit indexed class PNG, got mode RGB", err)
        self.assertFalse(os.path.exists(os.path.join(out, "panoptic_gt_val_city_vps.json")))

    def test_unknown_class_strict(self):
        out = os.path.join(self.tmp, "e4")
        code, _, err = self.convert(out, "--split", "val", "--strict")
        self.assertEqual(code, 2)
        self.assertIn("(--strict)", err)
        self.assertFalse(os.path.exists(os.path.join(out, "panoptic_gt_val_city_vps.json")))

    def test_classes_csv_mismatch(self):
        root = self.copy_viper("bad_classes")
        path = os.path.join(root, "classes.csv")
        with open(path) as f:
            text = f.read().replace("24,car,", "24,boat,")
        with open(path, "w") as f:
            f.write(text)
        out = os.path.join(self.tmp, "e5")
        code, _, err = self.convert(out, viper_root=root)
        self.assert_error(out, code, err, "class 24 is 'boat' but the VPS table", "expects 'car'")

    def test_no_classes_csv_is_a_note(self):
        root = self.copy_viper("no_classes")
        os.remove(os.path.join(root, "classes.csv"))
        out = os.path.join(self.tmp, "e6")
        code, stdout, err = self.convert(out, "--split", "val", viper_root=root)
        self.assertEqual(code, 0, err)
        self.assertIn("note: no classes.csv", stdout)


if __name__ == "__main__":
    unittest.main()
