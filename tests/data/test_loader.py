import json
import os
import shutil
import tempfile
import unittest

import numpy as np
from detectron2.data import DatasetCatalog

from vps_d2.data.categories import CITYSCAPES_VPS_CATEGORIES, category_metadata
from vps_d2.data.dataset_mapper import read_segments
from vps_d2.data.datasets.builtin import register_all
from vps_d2.data.datasets.cityscapes_vps import load_cityscapes_vps_json, split_paths
from vps_d2.data.panoptic_io import read_panoptic_png, write_panoptic_png
from vps_d2.utils.errors import UserError

from ..common import registered_synthetic, write_small_synthetic

META = category_metadata(CITYSCAPES_VPS_CATEGORIES)


class TestLoader(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vps_d2_loader_")
        write_small_synthetic(self.root, "val")
        self.paths = split_paths(self.root, "val")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def load(self):
        return load_cityscapes_vps_json(meta=META, **self.paths)

    def edit_json(self, key, fn):
        with open(self.paths[key]) as f:
            data = json.load(f)
        fn(data)
        with open(self.paths[key], "w") as f:
            json.dump(data, f)

    def test_round_trip(self):
        videos = self.load()
        self.assertEqual([v["video_id"] for v in videos], [1, 2, 3])
        with open(self.paths["panoptic_json"]) as f:
            pan = json.load(f)
        anns = {a["image_id"]: a for a in pan["annotations"]}
        for v in videos:
            self.assertEqual(v["frame_ids"], [v["video_id"] * 10000 + f for f in range(1, 11)])
            self.assertEqual(v["annotated"], [f % 5 == 0 for f in range(1, 11)])
            self.assertEqual((v["height"], v["width"]), (64, 128))
            for i in np.flatnonzero(v["annotated"]):
                ann = anns[v["image_ids"][i]]
                self.assertTrue(v["image_ids"][i].endswith(os.path.basename(v["file_names"][i])[: -len("_leftImg8bit.png")]))
                self.assertEqual([s["id"] for s in v["segments_infos"][i]], [s["id"] for s in ann["segments_info"]])
                ids = read_panoptic_png(v["pan_seg_file_names"][i])
                self.assertEqual(set(np.unique(ids).tolist()), {s["id"] for s in v["segments_infos"][i]})
                for s in v["segments_infos"][i]:
                    self.assertEqual(s["isthing"], s["category_id"] >= 11)
            for i in np.flatnonzero(~np.array(v["annotated"])):
                self.assertIsNone(v["segments_infos"][i])
                self.assertIsNone(v["pan_seg_file_names"][i])

    def test_frames_are_put_in_temporal_order(self):
        self.edit_json("all_info_json", lambda d: d["images"].reverse())
        self.assertEqual(self.load()[0]["frame_ids"][:3], [10001, 10002, 10003])

    def test_split_without_labels(self):
        videos = load_cityscapes_vps_json(self.paths["all_info_json"], self.paths["image_root"], None, None, META)
        self.assertFalse(any(a for v in videos for a in v["annotated"]))

    def test_missing_segments_info_is_one_clear_error(self):
        self.edit_json("panoptic_json", lambda d: d["annotations"][1].pop("segments_info"))
        with self.assertRaisesRegex(ValueError, r"panoptic_gt_val_city_vps.json: annotation of image "
                                    r"'0001_0002_synthetic_000001_000010' has no 'segments_info' field"):
            self.load()

    def test_unknown_category_is_an_error(self):
        self.edit_json("panoptic_json", lambda d: d["annotations"][0]["segments_info"][0].update(category_id=99))
        with self.assertRaisesRegex(ValueError, "unknown category_id 99"):
            self.load()

    def test_annotated_image_without_frame_is_an_error(self):
        self.edit_json("all_info_json", lambda d: d["images"].pop(4))  # frame 5 of video 1
        with self.assertRaisesRegex(ValueError, "1 annotated image.*no frame.*synthetic_000001_000005"):
            self.load()

    def test_png_id_absent_from_json_is_an_error(self):
        video = self.load()[0]
        path, segs = video["pan_seg_file_names"][4], video["segments_infos"][4]
        ids = read_panoptic_png(path)
        ids[0, 0] = 4242
        write_panoptic_png(path, ids)
        with self.assertRaisesRegex(ValueError, f"{os.path.basename(path)}: segment id 4242 is in the PNG but not in the JSON"):
            read_segments(path, segs)

    def test_corrupt_png_is_an_error(self):
        video = self.load()[0]
        with open(video["pan_seg_file_names"][4], "wb") as f:
            f.write(b"not a png")
        with self.assertRaisesRegex(ValueError, "cannot read panoptic PNG"):
            read_segments(video["pan_seg_file_names"][4], video["segments_infos"][4])

    def test_invalid_json_names_the_file(self):
        with open(self.paths["panoptic_json"], "w") as f:
            f.write("{")
        with self.assertRaisesRegex(ValueError, "panoptic_gt_val_city_vps.json: not valid JSON"):
            self.load()


class TestRegisteredDataset(unittest.TestCase):
    def test_missing_dataset_root_names_the_prepare_script(self):
        root = os.path.join(tempfile.gettempdir(), "vps_d2_no_such_dataset")
        register_all(root)  # every builtin name, under a root that does not exist
        try:
            with self.assertRaisesRegex(UserError, r"dataset 'synthetic_vps_val' is not prepared: "
                                        r".*im_all_info_val_city_vps.json does not exist.*Prepare it with: "
                                        r"python datasets/prepare_synthetic_vps.py --root .*synthetic_vps --split val"):
                DatasetCatalog.get("synthetic_vps_val")
            with self.assertRaisesRegex(UserError, "prepare_cityscapes_vps.py --release DIR"):
                DatasetCatalog.get("cityscapes_vps_train")
        finally:  # restore the registration of `import vps_d2`
            register_all(os.path.expanduser(os.getenv("DETECTRON2_DATASETS", "datasets")))

    def test_registered_split_loads_through_catalog(self):
        with registered_synthetic("test_catalog_vps") as (name, _):
            videos = DatasetCatalog.get(name)
            self.assertEqual(len(videos), 3)
            self.assertEqual(sum(map(sum, (v["annotated"] for v in videos))), 6)


if __name__ == "__main__":
    unittest.main()
