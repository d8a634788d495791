"""Online video inference of the tiny model (random weights): per-frame outputs, id consistency,
cached reference features, odd sizes, frames without detections, one-frame videos."""
import copy
import itertools
import os
import unittest
from unittest import mock

import torch
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances

from vps_d2.data import VideoPanopticDatasetMapper

from ..common import CONFIGS, get_config, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")


class TestVideoInference(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._ctx = registered_synthetic("test_video_inference", height=64, width=128, videos=1)
        cls.name, _ = cls._ctx.__enter__()
        cls.video = DatasetCatalog.get(cls.name)[0]
        torch.manual_seed(0)
        cls.cfg = get_config(TINY)
        cls.cfg.DATASETS.TRAIN = cls.cfg.DATASETS.TEST = (cls.name,)
        cls.cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.0  # random weights: keep every detection
        cls.cfg.MODEL.PANOPTIC.STUFF_AREA_LIMIT = 0
        cls.cfg.TEST.DETECTIONS_PER_IMAGE = 4
        cls.model = build_model(cls.cfg).eval()
        with torch.no_grad():  # random weights: make detections non-empty and winning in their boxes
            cls.model.sem_seg_head.predictor.bias[11:] = 5.0
            cls.model.roi_heads.mask_head.predictor.bias[:] = 5.0

    @classmethod
    def tearDownClass(cls):
        cls._ctx.__exit__(None, None, None)

    def inputs(self, video=None, cfg=None):
        return VideoPanopticDatasetMapper(cfg or self.cfg, is_train=False)(video or self.video)

    def scripted_detections(self, model):
        """Replace the detector's output by two cars moving towards each other, with distinct
        track embeddings (the rest of the pipeline runs as is)."""
        original, frame = model.roi_heads.forward, itertools.count()

        def forward(images, features, proposals, targets=None, **kwargs):
            (instances,), losses = original(images, features, proposals, targets, **kwargs)
            t = next(frame)
            scripted = Instances(instances.image_size)
            scripted.pred_boxes = Boxes(torch.tensor([[10.0 + 4 * t, 40, 80 + 4 * t, 100], [170.0 - 4 * t, 30, 240 - 4 * t, 90]]))
            scripted.scores = torch.tensor([0.9, 0.8])
            scripted.pred_classes = torch.tensor([2, 2])
            scripted.pred_embeds = torch.eye(2, self.cfg.MODEL.TRACK_HEAD.FC_DIM) * 5
            return [scripted], losses

        return mock.patch.object(model.roi_heads, "forward", forward)

    def test_every_frame_has_an_output_with_consistent_ids(self):
        inp = self.inputs()
        with self.scripted_detections(self.model):
            (out,) = self.model([inp])
        self.assertEqual(out["video_id"], self.video["video_id"])
        self.assertEqual(len(out["frames"]), 10)
        key_of = {}
        for frame in out["frames"]:
            ids, segments = frame["panoptic_seg"]
            self.assertEqual(tuple(ids.shape), (64, 128))
            listed = {s["id"] for s in segments}
            self.assertEqual(set(ids.unique().tolist()) - {0}, listed)
            for s in segments:
                self.assertEqual(s["area"], int((ids == s["id"]).sum()))
                key = (s["category_id"], s["track_id"])
                self.assertEqual(key_of.setdefault(s["id"], key), key, "one id, two objects")
                self.assertEqual(s["isthing"], s["track_id"] is not None)
            # both cars are segmented in every frame and keep their track ids 1 and 2
            self.assertEqual(sorted(s["track_id"] for s in segments if s["isthing"]), [1, 2])
            self.assertTrue(all(s["category_id"] == 13 for s in segments if s["isthing"]))  # car
        keys = list(key_of.values())
        self.assertEqual(len(keys), len(set(keys)), "one object, two ids")

    def test_backbone_runs_once_per_frame(self):
        calls = []
        handle = self.model.backbone.register_forward_hook(lambda *a: calls.append(1))
        try:
            self.model([self.inputs()])
        finally:
            handle.remove()
        self.assertEqual(len(calls), 10)

    def test_state_reset_between_videos(self):
        (a,) = self.model([self.inputs()])
        (b,) = self.model([self.inputs()])
        for fa, fb in zip(a["frames"], b["frames"]):
            self.assertTrue(torch.equal(fa["panoptic_seg"][0], fb["panoptic_seg"][0]))
            self.assertEqual(fa["panoptic_seg"][1], fb["panoptic_seg"][1])

    def test_odd_image_size(self):
        cfg = self.cfg.clone()
        cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST = 63, 1000
        (out,) = self.model([self.inputs(cfg=cfg)])
        frame = self.inputs(cfg=cfg)["frames"][0]
        self.assertEqual(tuple(frame["image"].shape[1:]), (63, 126))
        self.assertEqual(tuple(out["frames"][0]["panoptic_seg"][0].shape), (64, 128))

    def test_frame_without_detections_is_stuff_only(self):
        model = copy.deepcopy(self.model)
        model.roi_heads.box_predictor.test_score_thresh = 1.01
        (out,) = model([self.inputs()])
        for frame in out["frames"]:
            ids, segments = frame["panoptic_seg"]
            self.assertTrue(segments)
            self.assertFalse(any(s["isthing"] for s in segments))

    def test_one_frame_video(self):
        video = copy.deepcopy(self.video)
        for key in ("file_names", "frame_ids", "annotated", "image_ids", "pan_seg_file_names", "segments_infos"):
            video[key] = video[key][4:5]
        (out,) = self.model([self.inputs(video)])
        self.assertEqual(len(out["frames"]), 1)
        self.assertTrue(out["frames"][0]["panoptic_seg"][1])


if __name__ == "__main__":
    unittest.main()
