"""register_vps_dataset and the command-line registration (issue 24) on a dataset with 3 classes of
its own in a user's layout (tests/data/three_class.py)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from detectron2.data import DatasetCatalog, MetadataCatalog

from vps_d2.data.datasets import register_from_spec, register_vps_dataset
from vps_d2.utils.errors import UserError

from ..common import CONFIGS, REPO, get_config, load_script
from .three_class import CATEGORIES, write_three_class

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
NAME = "test_three_class"


class TestRegisterVPSDataset(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        get_config()  # registers vps_d2's components
        cls.tmp = tempfile.mkdtemp(prefix="vps_d2_register_")
        cls.paths = write_three_class(os.path.join(cls.tmp, "mine"), videos=1, frames=10)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tearDown(self):
        for name in (NAME, "test_other"):
            if name in DatasetCatalog.list():
                DatasetCatalog.remove(name)
                MetadataCatalog.remove(name)

    def register(self, **overrides):
        p = dict(self.paths, **overrides)
        register_vps_dataset(NAME, p["frames_json"], p["panoptic_json"], p["image_root"], p["gt_root"],
                             categories=overrides.get("categories"))
        return MetadataCatalog.get(NAME)

    def test_one_call_reads_categories_and_stride_from_the_files(self):
        meta = self.register()
        self.assertEqual((meta.stuff_classes, meta.thing_classes), (["ground", "scenery", "mover"], ["mover"]))
        self.assertEqual(meta.thing_dataset_id_to_contiguous_id, {3: 0})
        self.assertEqual(meta.stuff_dataset_id_to_contiguous_id, {1: 0, 2: 1, 3: 2})
        self.assertEqual((meta.annotation_stride, meta.evaluator_type), (5, "vpq"))
        videos = DatasetCatalog.get(NAME)
        self.assertEqual((len(videos), len(videos[0]["file_names"]), sum(videos[0]["annotated"])), (1, 10, 2))
        cats = {s["category_id"] for segs in videos[0]["segments_infos"] if segs for s in segs}
        self.assertEqual(cats, {0, 1, 2})

    def test_categories_as_list_or_file(self):
        renamed = [dict(c, name=c["name"].upper()) for c in CATEGORIES]
        self.assertEqual(self.register(categories=renamed).thing_classes, ["MOVER"])
        path = os.path.join(self.tmp, "cats.json")
        with open(path, "w") as f:
            json.dump({"categories": renamed}, f)
        self.assertEqual(self.register(categories=path).stuff_classes, ["GROUND", "SCENERY", "MOVER"])

    def test_unlabelled_videos(self):
        register_vps_dataset(NAME, self.paths["frames_json"], image_root=self.paths["image_root"],
                             categories=CATEGORIES)
        self.assertEqual(MetadataCatalog.get(NAME).annotation_stride, 1)
        self.assertFalse(any(DatasetCatalog.get(NAME)[0]["annotated"]))

    def test_standard_names_give_the_folders(self):
        root = os.path.join(self.tmp, "std")
        register_vps_dataset(NAME, os.path.join(root, "im_all_info_val_city_vps.json"),
                             os.path.join(root, "panoptic_gt_val_city_vps.json"), categories=CATEGORIES)
        meta = MetadataCatalog.get(NAME)
        self.assertEqual((meta.image_root, meta.panoptic_root),
                         (os.path.join(root, "val", "img_all"), os.path.join(root, "val", "panoptic_video")))

    def test_lazy_one_line_errors_name_file_and_field(self):
        missing = os.path.join(self.tmp, "nope.json")
        self.register(frames_json=missing)  # registering reads nothing
        with self.assertRaises(UserError) as caught:
            DatasetCatalog.get(NAME)
        self.assertEqual(str(caught.exception), f"dataset '{NAME}': frames_json {missing} does not exist")

        broken = os.path.join(self.tmp, "broken_labels.json")
        pan = json.load(open(self.paths["panoptic_json"]))
        del pan["categories"][1]["isthing"]
        with open(broken, "w") as f:
            json.dump(pan, f)
        meta = self.register(panoptic_json=broken)
        with self.assertRaises(UserError) as caught:
            meta.thing_classes
        self.assertEqual(str(caught.exception), f"{broken}: categories[1] has no 'isthing' field")

        del pan["categories"]
        with open(broken, "w") as f:
            json.dump(pan, f)
        info = os.path.join(self.tmp, "frames_no_cats.json")
        shutil.copyfile(self.paths["frames_json"], info)
        meta = self.register(panoptic_json=broken, frames_json=info)
        with self.assertRaisesRegex(UserError, r"has no 'categories' field; give the categories"):
            meta.get("stuff_classes")

    def test_spec(self):
        p = self.paths
        name = register_from_spec(f"{NAME}={p['frames_json']},{p['image_root']},{p['panoptic_json']},"
                                  f"{p['gt_root']},{p['categories']}")
        self.assertEqual((name, MetadataCatalog.get(NAME).thing_classes), (NAME, ["mover"]))
        self.assertEqual(len(DatasetCatalog.get(NAME)), 1)
        for spec, message in (
            ("no_equals_sign", "is not of the form NAME=FRAMES_JSON,IMAGE_ROOT"),
            (f"test_other={self.tmp}/x.json,{p['image_root']}", "FRAMES_JSON .*x.json of 'test_other': no such file"),
            (f"test_other={p['frames_json']},,,{p['gt_root']}", "gives GT_ROOT without PANOPTIC_JSON"),
        ):
            with self.assertRaisesRegex(UserError, "^DATASETS.REGISTER: .*" + message):
                register_from_spec(spec)

    def test_command_line_eval_only_and_demo(self):
        p = self.paths
        spec = f"{NAME}={p['frames_json']},{p['image_root']},{p['panoptic_json']},{p['gt_root']}"
        out = os.path.join(self.tmp, "eval")
        proc = subprocess.run(
            [sys.executable, "train_net.py", "--config-file", TINY, "--eval-only", "--register", spec,
             "DATASETS.TRAIN", "()", "DATASETS.TEST", f'("{NAME}",)', "MODEL.SEM_SEG_HEAD.NUM_CLASSES", "3",
             "MODEL.ROI_HEADS.NUM_CLASSES", "1", "INPUT.MIN_SIZE_TEST", "64", "INPUT.MAX_SIZE_TEST", "128",
             "DATALOADER.NUM_WORKERS", "0", "OUTPUT_DIR", out],
            capture_output=True, text=True, cwd=REPO, timeout=600)
        self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
        results = json.load(open(os.path.join(out, "inference", NAME, "vpq_results.json")))
        self.assertEqual([c["name"] for c in results["per_class"]], ["ground", "scenery", "mover"])

        demo = load_script("demo/video_demo.py")
        args = demo.get_parser().parse_args(["--config-file", TINY, "--register", spec, "--opts", "DATASETS.TEST",
                                             f'("{NAME}",)', "MODEL.SEM_SEG_HEAD.NUM_CLASSES", "3",
                                             "MODEL.ROI_HEADS.NUM_CLASSES", "1"])
        cfg = demo.setup_cfg(args)
        self.assertEqual(cfg.DATASETS.REGISTER, [spec])
        self.assertEqual(MetadataCatalog.get(NAME).thing_classes, ["mover"])


if __name__ == "__main__":
    unittest.main()
