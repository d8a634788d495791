import copy
import os
import unittest
from unittest import mock

import numpy as np
import torch
from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image

from vps_d2.data.dataset_mapper import PANOPTIC_IGNORE, VideoPanopticDatasetMapper
from vps_d2.data.panoptic_io import read_panoptic_png

from ..common import CONFIGS, get_config, registered_synthetic


class TestVideoPanopticDatasetMapper(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._ctx = registered_synthetic("test_mapper_vps")
        cls.name, cls.root = cls._ctx.__enter__()
        cls.videos = DatasetCatalog.get(cls.name)
        cls.cfg = get_config(os.path.join(CONFIGS, "Synthetic-VPS", "Base-Synthetic-VPS.yaml"))
        cls.cfg.DATASETS.TRAIN = (cls.name,)
        cls.cfg.DATASETS.TEST = (cls.name,)
        cls.cfg.INPUT.MIN_SIZE_TRAIN = (48, 80)
        cls.cfg.INPUT.CROP.SIZE = (40, 72)

    @classmethod
    def tearDownClass(cls):
        cls._ctx.__exit__(None, None, None)

    def mapper(self, is_train=True, **cfg_changes):
        cfg = self.cfg.clone()
        cfg.merge_from_list([x for kv in cfg_changes.items() for x in kv])
        return VideoPanopticDatasetMapper(cfg, is_train)

    def self_pair_video(self):
        """A video whose two annotated frames are the same files: target and reference must match."""
        video = copy.deepcopy(self.videos[0])
        for key in ("file_names", "pan_seg_file_names", "segments_infos", "image_ids"):
            video[key][9] = video[key][4]
        return video

    def assert_frames_equal(self, a, b):
        for key in ("image", "sem_seg", "pan_seg"):
            self.assertTrue(torch.equal(a[key], b[key]), key)
        ia, ib = a["instances"], b["instances"]
        self.assertTrue(torch.equal(ia.gt_boxes.tensor, ib.gt_boxes.tensor))
        self.assertTrue(torch.equal(ia.gt_masks.tensor, ib.gt_masks.tensor))
        self.assertTrue(torch.equal(ia.gt_ids, ib.gt_ids))

    def test_one_augmentation_for_both_frames(self):
        mapper, video = self.mapper(), self.self_pair_video()
        shapes, first_pixels = set(), set()
        for seed in range(12):
            np.random.seed(seed)
            out = mapper(video)
            target, ref = out["frames"]
            self.assertNotEqual(target["frame_index"], ref["frame_index"])
            self.assert_frames_equal(target, ref)
            shapes.add(tuple(target["image"].shape))
            first_pixels.add(tuple(target["image"][:, 0, 0].tolist()))
        self.assertEqual(shapes, {(3, 40, 72)})  # cropped
        self.assertGreater(len(first_pixels), 3, "the augmentation does not vary between samples")

    def test_flip_is_shared(self):
        mapper = self.mapper(**{"INPUT.MIN_SIZE_TRAIN": (64,), "INPUT.MIN_SIZE_TRAIN_SAMPLING": "choice",
                                "INPUT.CROP.ENABLED": False})
        video = self.self_pair_video()
        unflipped = read_panoptic_png(video["pan_seg_file_names"][4])
        flips = set()
        for seed in range(10):
            np.random.seed(seed)
            target, ref = mapper(video)["frames"]
            self.assert_frames_equal(target, ref)
            sem = target["sem_seg"].numpy()
            flipped = not np.array_equal(sem[:, 0], self.semantic_of(unflipped, video, 4)[:, 0])
            flips.add(flipped)
            if flipped:
                np.testing.assert_array_equal(sem, self.semantic_of(unflipped, video, 4)[:, ::-1])
        self.assertEqual(flips, {True, False})

    def semantic_of(self, ids, video, pos):
        sem = np.full(ids.shape, 255)
        for s in video["segments_infos"][pos]:
            sem[ids == s["id"]] = s["category_id"]
        return sem

    def test_pair_targets_are_consistent(self):
        mapper = self.mapper(**{"INPUT.CROP.ENABLED": False})
        np.random.seed(3)
        shared = 0
        for video in self.videos:
            out = mapper(video)
            frames = out["frames"]
            numbers = [video["frame_ids"][f["frame_index"]] % 10000 for f in frames]
            self.assertTrue(all(n % 5 == 0 for n in numbers))
            self.assertLessEqual(abs(numbers[0] - numbers[1]), 5)
            classes = []
            for f in frames:
                inst = f["instances"]
                self.assertEqual(f["image"].dtype, torch.uint8)
                self.assertEqual((f["sem_seg"].dtype, f["pan_seg"].dtype, inst.gt_ids.dtype), (torch.int64,) * 3)
                sem, pan = f["sem_seg"].numpy(), f["pan_seg"].numpy()
                masks = inst.gt_masks.tensor.numpy()
                self.assertEqual(masks.shape[1:], sem.shape)
                for k in range(len(inst)):
                    m = masks[k]
                    semantic_class = 11 + int(inst.gt_classes[k])  # Cityscapes-VPS: things after 11 stuff
                    self.assertTrue((sem[m] == semantic_class).all(), "mask pixels disagree with sem_seg")
                    self.assertTrue((pan[m] == 11 + k).all(), "mask pixels disagree with pan_seg")
                    ys, xs = np.nonzero(m)
                    self.assertEqual(inst.gt_boxes.tensor[k].tolist(), [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                    self.assertEqual(int(inst.gt_ids[k]) // 1000, semantic_class)  # synthetic id = 1000*cat + n
                stuff = pan < 11
                self.assertTrue((pan[stuff] == sem[stuff]).all())  # Cityscapes stuff index = semantic id
                self.assertTrue((pan[sem == 255] == PANOPTIC_IGNORE).all())
                self.assertEqual(int((pan >= 11).sum()), int(masks.sum()))
                classes.append(dict(zip(inst.gt_ids.tolist(), inst.gt_classes.tolist())))
            for seg_id in set(classes[0]) & set(classes[1]):
                shared += 1
                self.assertEqual(classes[0][seg_id], classes[1][seg_id])
        self.assertGreater(shared, 0, "no object appears in both frames of any pair")

    def test_flow_in_loader(self):
        out = self.mapper()(self.self_pair_video())
        self.assertEqual(tuple(out["flow"].shape), (2, 10, 18))  # ceil(40/4), ceil(72/4)
        self.assertEqual(out["flow"].dtype, torch.float32)
        self.assertLess(out["flow"].abs().max().item(), 0.05)  # identical frames
        self.assertEqual(out["flow_backward"].shape, out["flow"].shape)
        self.assertNotIn("flow", self.mapper(**{"MODEL.FLOW.IN_LOADER": False})(self.videos[0]))
        self.assertNotIn("flow", self.mapper(**{"MODEL.FLOW.NAME": "zero"})(self.videos[0]))

    def test_each_frame_fused_with_its_raw_predecessor_as_at_test(self):
        video = self.videos[0]
        fused = {"MODEL.VPS.FUSE_ON": True}
        out = self.mapper(**fused)(video)
        self.assertNotIn("flow", out)  # the pair is not fused with each other
        for f in out["frames"]:
            self.assertEqual(f["fuse_image"].shape, f["image"].shape)
            self.assertEqual(tuple(f["fuse_flow"].shape), (2, 10, 18))
        # without augmentation the fuse image is exactly the raw frame before (itself for frame 0)
        plain = {"INPUT.RANDOM_FLIP": "none", "INPUT.CROP.ENABLED": False, "INPUT.MIN_SIZE_TRAIN": (64, 64)}
        for f in self.mapper(**fused, **plain)(video)["frames"]:
            before = video["file_names"][max(0, f["frame_index"] - 1)]
            raw = torch.as_tensor(read_image(before, format="BGR").transpose(2, 0, 1).copy())
            self.assertTrue(torch.equal(f["fuse_image"], raw))
        two = self.mapper(**fused, **{"INPUT.VIDEO.FUSE_GAP": 0})(video)
        self.assertNotIn("fuse_image", two["frames"][0])
        self.assertIn("flow", two)
        bi = self.mapper(**fused, **{"MODEL.FUSE.BIDIRECTIONAL": True})(video)
        self.assertIn("flow_backward", bi)

    def test_test_mode_returns_every_frame_in_order(self):
        video = self.videos[1]
        out = self.mapper(is_train=False)(video)
        frames = out["frames"]
        self.assertEqual(len(frames), 10)
        self.assertEqual([f["frame_id"] for f in frames], video["frame_ids"])
        self.assertEqual([f["annotated"] for f in frames], [n % 5 == 0 for n in range(1, 11)])
        last = frames[-1]
        self.assertEqual(tuple(last["image"].shape), (3, 128, 256))  # MIN_SIZE_TEST 128
        self.assertEqual((last["height"], last["width"]), (64, 128))
        self.assertEqual(last["segments_info"], video["segments_infos"][9])
        self.assertIsNone(frames[0]["pan_seg_file_name"])
        self.assertEqual(len(frames[2:5]), 3)
        with self.assertRaises(IndexError):
            frames[10]

    def test_test_frames_read_images_only_when_used(self):
        frames = self.mapper(is_train=False)(self.videos[0])["frames"]
        with mock.patch("vps_d2.data.dataset_mapper.utils.read_image", wraps=read_image) as reader:
            metadata = [(f["frame_id"], f["annotated"], f["height"]) for f in frames]
            self.assertEqual(len(metadata), 10)
            self.assertEqual(reader.call_count, 0)
            frame = frames[3]
            self.assertEqual(frame["image"].dtype, torch.uint8)
            self.assertIs(frame["image"], frame["image"])
            self.assertEqual(reader.call_count, 1)


if __name__ == "__main__":
    unittest.main()
