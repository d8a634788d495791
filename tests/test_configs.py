import glob
import os
import unittest

import yaml

from vps_d2.config import annotation_stride

from .common import CONFIGS, get_config


class TestConfigs(unittest.TestCase):
    def test_every_config_file_merges(self):
        files = sorted(glob.glob(os.path.join(CONFIGS, "**", "*.yaml"), recursive=True))
        self.assertGreaterEqual(len(files), 4)
        for path in files:
            with self.subTest(config=os.path.relpath(path, CONFIGS)):
                cfg = get_config(path)  # unknown keys or a broken _BASE_ chain raise here
                self.assertEqual(cfg.INPUT.VIDEO.NUM_FRAMES, 2)
                self.assertFalse(cfg.DATALOADER.FILTER_EMPTY_ANNOTATIONS)

    def test_base_is_self_contained(self):
        with open(os.path.join(CONFIGS, "Base-VPSNet.yaml")) as f:
            self.assertNotIn("_BASE_", yaml.safe_load(f))

    def test_data_keys_and_defaults(self):
        cfg = get_config()
        self.assertEqual((cfg.INPUT.VIDEO.REF_RANGE, cfg.INPUT.VIDEO.ANNOTATION_STRIDE), (5, 0))
        self.assertEqual((cfg.MODEL.FLOW.NAME, cfg.MODEL.FLOW.IN_LOADER, cfg.MODEL.FLOW.WARP_IMPL), ("dis", True, "auto"))

    def test_annotation_stride_from_metadata_or_config(self):
        from detectron2.data import MetadataCatalog

        cfg = get_config()
        self.assertEqual(annotation_stride(cfg, MetadataCatalog.get("cityscapes_vps_val")), 5)
        self.assertEqual(annotation_stride(cfg, MetadataCatalog.get("viper_vps_val")), 1)
        cfg.INPUT.VIDEO.ANNOTATION_STRIDE = 3
        self.assertEqual(annotation_stride(cfg, MetadataCatalog.get("viper_vps_val")), 3)
        cfg.INPUT.VIDEO.ANNOTATION_STRIDE = 0
        with self.assertRaisesRegex(ValueError, "no 'annotation_stride' metadata"):
            annotation_stride(cfg, MetadataCatalog.get("coco_2017_val"))


if __name__ == "__main__":
    unittest.main()
