"""The image panoptic mapper (issue 23): a Base trained on single images, the start of the paper's
chain (§V-D1). Known answers: detectron2's two category conventions give the same targets as
vps_d2's, and the image view of a video split holds exactly its annotated frames."""
import unittest

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog

import detectron2.data.datasets  # noqa: F401  (registers detectron2's image panoptic datasets)
from vps_d2.data.categories import category_maps
from vps_d2.data.dataset_mapper import target_maps
from vps_d2.data.datasets import register_image_view
from vps_d2.data.image_mapper import ImagePanopticDatasetMapper
from vps_d2.data.panoptic_io import read_panoptic_png
from vps_d2.utils.errors import UserError

from ..common import CONFIGS, get_config, registered_synthetic

TINY = f"{CONFIGS}/quick_schedules/tiny_vpsnet_pp_cpu.yaml"


def base_config(train: str):
    cfg = get_config(TINY)
    cfg.merge_from_list(["INPUT.DATASET_MAPPER_NAME", "image_panoptic", "DATASETS.TRAIN", f"('{train}',)",
                         "MODEL.VPS.FUSE_ON", "False", "MODEL.VPS.TRACK_ON", "False", "MODEL.VPS.TUBE_ON", "False",
                         "MODEL.VPS.EDGE_ON", "False", "INPUT.MIN_SIZE_TRAIN", "(64, 64)", "INPUT.CROP.ENABLED", "False",
                         "INPUT.RANDOM_FLIP", "none"])
    return cfg


class TestCategoryConventions(unittest.TestCase):
    def test_detectron2_image_datasets(self):
        """detectron2's metadata: stuff only in stuff_*, the things' semantic channels in thing_*."""
        semantic, things = category_maps(MetadataCatalog.get("cityscapes_fine_panoptic_train"))
        self.assertEqual((len(semantic), len(things)), (19, 8))
        self.assertEqual(sorted(semantic.values()), list(range(19)))
        self.assertEqual([things[d] for d in range(24, 34) if d in things], list(range(8)))
        maps = target_maps(MetadataCatalog.get("cityscapes_fine_panoptic_train"))
        self.assertEqual(maps["semantic_to_thing"], {11 + i: i for i in range(8)})  # trainIds 11-18
        self.assertEqual(maps["semantic_to_stuff"], {i: i for i in range(11)})
        semantic, things = category_maps(MetadataCatalog.get("coco_2017_train_panoptic"))
        self.assertEqual((len(semantic), len(things)), (133, 80))
        self.assertEqual(sorted(things.values()), list(range(80)))

    def test_vps_convention_unchanged(self):
        with registered_synthetic("test_image_conv") as (name, _):
            meta = MetadataCatalog.get(name)
            self.assertEqual(category_maps(meta), (dict(meta.stuff_dataset_id_to_contiguous_id),
                                                   dict(meta.thing_dataset_id_to_contiguous_id)))


class TestImageMapper(unittest.TestCase):
    def test_image_view_and_targets(self):
        with registered_synthetic("test_image_view") as (name, _):
            view = register_image_view(name)
            try:
                images = DatasetCatalog.get(view)
                videos = DatasetCatalog.get(name)
                self.assertEqual(len(images), sum(sum(v["annotated"]) for v in videos))  # 3 videos x 2
                self.assertEqual(MetadataCatalog.get(view).thing_classes, MetadataCatalog.get(name).thing_classes)
                record = images[1]
                out = ImagePanopticDatasetMapper(base_config(view))(record)
                self.assertEqual(len(out["frames"]), 1)
                frame = out["frames"][0]
                ids = read_panoptic_png(record["pan_seg_file_name"])
                things = [s for s in record["segments_info"] if s["isthing"] and (ids == s["id"]).any()]
                self.assertEqual(len(frame["instances"]), len(things))
                for seg, mask, cls in zip(things, frame["instances"].gt_masks.tensor, frame["instances"].gt_classes):
                    self.assertTrue(torch.equal(mask, torch.as_tensor(ids == seg["id"])))
                    self.assertEqual(int(cls), seg["category_id"] - 11)  # trainIds 11-18 -> detector 0-7
                stuff = [s for s in record["segments_info"] if not s["isthing"]][0]
                self.assertTrue((frame["sem_seg"][torch.as_tensor(ids == stuff["id"])] == stuff["category_id"]).all())

                # The same dicts under detectron2's Cityscapes metadata (its convention) give the same targets.
                DatasetCatalog.register("test_image_d2", lambda: images)
                d2 = MetadataCatalog.get("cityscapes_fine_panoptic_train")
                MetadataCatalog.get("test_image_d2").set(
                    thing_dataset_id_to_contiguous_id={v: v for v in d2.thing_dataset_id_to_contiguous_id.values()},
                    stuff_dataset_id_to_contiguous_id={v: v for v in d2.stuff_dataset_id_to_contiguous_id.values()},
                    ignore_label=255, evaluator_type="cityscapes_panoptic_seg")
                other = ImagePanopticDatasetMapper(base_config("test_image_d2"))(record)["frames"][0]
                for key in ("sem_seg", "pan_seg"):
                    self.assertTrue(torch.equal(other[key], frame[key]), key)
                self.assertTrue(torch.equal(other["instances"].gt_classes, frame["instances"].gt_classes))
            finally:
                for n in (view, "test_image_d2"):
                    if n in DatasetCatalog.list():
                        DatasetCatalog.remove(n)
                        MetadataCatalog.remove(n)

    def test_builtin_splits_have_image_views(self):
        get_config()  # add_vps_config registers the built-in splits once per process
        for name in ("synthetic_vps_train", "viper_vps_train", "cityscapes_vps_val"):
            self.assertIn(f"{name}_images", DatasetCatalog.list())
            self.assertEqual(MetadataCatalog.get(f"{name}_images").image_view_of, name)
        self.assertNotIn("cityscapes_vps_test_images", DatasetCatalog.list())  # no labels

    def test_video_variants_refused(self):
        with registered_synthetic("test_image_refuse") as (name, _):
            view = register_image_view(name)
            try:
                cfg = base_config(view)
                cfg.MODEL.VPS.FUSE_ON = True
                with self.assertRaisesRegex(UserError, "trains the Base only, but MODEL.VPS.FUSE_ON is True"):
                    ImagePanopticDatasetMapper(cfg)
            finally:
                DatasetCatalog.remove(view)
                MetadataCatalog.remove(view)


if __name__ == "__main__":
    unittest.main()
