import os
import tempfile
import unittest

from detectron2.data import DatasetCatalog, MetadataCatalog

from vps_d2.config import register_all as register_components
from vps_d2.data.datasets.builtin import register_all
from vps_d2.utils.errors import UserError

NAMES = [
    "cityscapes_vps_train", "cityscapes_vps_val", "cityscapes_vps_test",
    "viper_vps_train", "viper_vps_val",
    "synthetic_vps_train", "synthetic_vps_val", "synthetic_vps_test",
    "synthetic_vps_hard_train", "synthetic_vps_hard_val", "synthetic_vps_hard_test",
]


class TestRegistration(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        register_components()

    def test_register_all_registers_every_dataset(self):
        registered = set(DatasetCatalog.list())
        for name in NAMES:
            self.assertIn(name, registered)

    def test_metadata(self):
        for name in NAMES:
            meta = MetadataCatalog.get(name)
            self.assertEqual((meta.evaluator_type, meta.ignore_label, meta.label_divisor), ("vpq", 255, 1000))
            self.assertEqual(len(meta.stuff_classes), len(meta.stuff_colors))
            self.assertEqual(len(meta.thing_classes), len(meta.thing_dataset_id_to_contiguous_id))
        city = MetadataCatalog.get("cityscapes_vps_val")
        self.assertEqual(len(city.stuff_classes), 19)
        self.assertEqual(city.thing_classes, ["person", "rider", "car", "truck", "bus", "train", "motorcycle", "bicycle"])
        self.assertEqual(city.thing_dataset_id_to_contiguous_id[11], 0)
        self.assertEqual(city.stuff_dataset_id_to_contiguous_id[18], 18)
        self.assertEqual(city.annotation_stride, 5)
        self.assertIsNone(MetadataCatalog.get("cityscapes_vps_test").panoptic_json)
        viper = MetadataCatalog.get("viper_vps_val")
        self.assertEqual((len(viper.stuff_classes), len(viper.thing_classes)), (23, 10))
        self.assertEqual((viper.annotation_stride, viper.vpq_excluded_category_ids, viper.vpq_min_gt_area), (1, [11], 1024))
        self.assertEqual(MetadataCatalog.get("synthetic_vps_train").stuff_classes, city.stuff_classes)
        hard = MetadataCatalog.get("synthetic_vps_hard_val")
        self.assertEqual((hard.stuff_classes, hard.thing_classes, hard.annotation_stride),
                         (city.stuff_classes, city.thing_classes, 5))
        self.assertTrue(hard.image_root.endswith(os.path.join("synthetic_vps_hard", "val", "img_all")))

    def test_unprepared_hard_split_names_its_command(self):
        default_root = os.path.dirname(MetadataCatalog.get("synthetic_vps_train").all_info_json)
        self.addCleanup(register_all, os.path.dirname(default_root))
        with tempfile.TemporaryDirectory() as root:
            register_all(root)
            with self.assertRaises(UserError) as caught:
                DatasetCatalog.get("synthetic_vps_hard_test")
        self.assertIn(f"python datasets/prepare_synthetic_vps.py --root {root}/synthetic_vps_hard --split test "
                      "--difficulty hard", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
