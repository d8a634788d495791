import math
import unittest

import torch

from detectron2.layers import ShapeSpec
from detectron2.modeling import build_roi_heads
from detectron2.modeling.roi_heads import ROI_HEADS_REGISTRY
from detectron2.structures import BitMasks, Boxes, ImageList, Instances
from detectron2.utils.events import EventStorage

from vps_d2.modeling.roi_heads.track_roi_heads import (
    TrackROIHeads,
    class_agnostic_nms,
    track_targets,
)

from ..common import get_config

SIZE = (64, 64)
NUM_CLASSES = 3
SHAPES = {"p2": ShapeSpec(channels=8, stride=4), "p3": ShapeSpec(channels=8, stride=8)}


def tiny_cfg(track_on=True, name="masktrack"):
    cfg = get_config()
    cfg.MODEL.VPS.TRACK_ON = track_on
    cfg.MODEL.MASK_ON = True
    cfg.MODEL.ROI_HEADS.NAME = "TrackROIHeads"
    cfg.MODEL.ROI_HEADS.IN_FEATURES = ["p2", "p3"]
    cfg.MODEL.ROI_HEADS.NUM_CLASSES = NUM_CLASSES
    cfg.MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE = 16
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = 0.3
    cfg.MODEL.ROI_HEADS.NMS_THRESH_TEST = 0.5
    cfg.MODEL.ROI_BOX_HEAD.NAME = "FastRCNNConvFCHead"
    cfg.MODEL.ROI_BOX_HEAD.NUM_FC = 1
    cfg.MODEL.ROI_BOX_HEAD.FC_DIM = 16
    cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION = 4
    cfg.MODEL.ROI_MASK_HEAD.NAME = "MaskRCNNConvUpsampleHead"
    cfg.MODEL.ROI_MASK_HEAD.NUM_CONV = 1
    cfg.MODEL.ROI_MASK_HEAD.CONV_DIM = 8
    cfg.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION = 4
    cfg.MODEL.TRACK_HEAD.NAME = name
    cfg.MODEL.TRACK_HEAD.FC_DIM = 8
    cfg.MODEL.TRACK_HEAD.POOLER_RESOLUTION = 3
    return cfg


def features(n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "p2": torch.randn(n, 8, 16, 16, generator=g),
        "p3": torch.randn(n, 8, 8, 8, generator=g),
    }


def gt(boxes, classes, ids):
    inst = Instances(SIZE)
    inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32).view(-1, 4))
    inst.gt_classes = torch.tensor(classes, dtype=torch.int64)
    inst.gt_ids = torch.tensor(ids, dtype=torch.int64)
    masks = torch.zeros(len(classes), *SIZE, dtype=torch.bool)
    for k, box in enumerate(boxes):
        x0, y0, x1, y1 = (int(v) for v in box)
        masks[k, y0:y1, x0:x1] = True
    inst.gt_masks = BitMasks(masks)
    return inst


def proposals_around(boxes, n_random=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    jitter = [
        torch.tensor(b, dtype=torch.float32) + torch.randn(4, generator=g)
        for b in boxes
        for _ in range(3)
    ]
    xy = torch.rand(n_random, 2, generator=g) * 40
    wh = torch.rand(n_random, 2, generator=g) * 20 + 4
    rand = torch.cat([xy, xy + wh], 1)
    p = Instances(SIZE)
    p.proposal_boxes = Boxes(torch.cat([torch.stack(jitter), rand]).clamp(0, 63))
    p.objectness_logits = torch.zeros(len(p.proposal_boxes))
    return p


def training_batch():
    targets = [
        gt([[4, 4, 24, 28], [30, 10, 60, 40]], [0, 2], [101, 205]),
        gt([[10, 30, 40, 60]], [1], [7]),
    ]
    # reference: image 0 has 205 (and 999, absent from the target), not 101; image 1 has 7
    refs = [
        gt([[33, 12, 62, 42], [2, 2, 12, 12]], [2, 1], [999, 205]),
        gt([[12, 30, 42, 58]], [1], [7]),
    ]
    proposals = [
        proposals_around([[4, 4, 24, 28], [30, 10, 60, 40]]),
        proposals_around([[10, 30, 40, 60]], seed=1),
    ]
    return proposals, targets, refs


class TestTrackTargets(unittest.TestCase):
    def test_labels_of_positives_only(self):
        p = Instances(SIZE)
        p.proposal_boxes = Boxes(torch.zeros(5, 4))
        p.gt_classes = torch.tensor([0, NUM_CLASSES, 1, -1, 2])  # bg and ignored are not anchors
        p.gt_ids = torch.tensor([10, 11, 12, 13, 14])
        ref = Instances(SIZE, gt_ids=torch.tensor([12, 10]))
        fg, labels = track_targets([p], [ref], NUM_CLASSES)
        self.assertEqual(fg[0].gt_ids.tolist(), [10, 12, 14])
        self.assertEqual(labels[0].tolist(), [2, 1, 0])  # 10 -> r_2, 12 -> r_1, 14 -> new

    def test_image_without_ground_truth(self):
        p = Instances(SIZE)
        p.proposal_boxes = Boxes(torch.zeros(3, 4))
        p.gt_classes = torch.full((3,), NUM_CLASSES)  # no gt_ids: detectron2 adds none without GT
        ref = Instances(SIZE, gt_ids=torch.zeros(0, dtype=torch.int64))
        fg, labels = track_targets([p], [ref], NUM_CLASSES)
        self.assertEqual((len(fg[0]), labels[0].shape), (0, (0,)))


class TestClassAgnosticNMS(unittest.TestCase):
    def test_removes_overlapping_lower_score_box_of_another_class(self):
        inst = Instances(SIZE)
        inst.pred_boxes = Boxes(
            torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30.0]])
        )  # IoU(0,1)=0.81
        inst.scores = torch.tensor([0.9, 0.8, 0.7])
        inst.pred_classes = torch.tensor([0, 1, 1])
        kept = class_agnostic_nms(inst, 0.5, -1)
        self.assertTrue(torch.equal(kept.scores, torch.tensor([0.9, 0.7])))
        self.assertEqual(kept.pred_classes.tolist(), [0, 1])
        self.assertEqual(len(class_agnostic_nms(inst, 0.5, 1)), 1)
        self.assertEqual(len(class_agnostic_nms(inst, 0.9, -1)), 3)
        self.assertEqual(len(class_agnostic_nms(inst[[]], 0.5, 10)), 0)


class TestTrackROIHeads(unittest.TestCase):
    def build(self, **kw):
        torch.manual_seed(0)
        return build_roi_heads(tiny_cfg(**kw), SHAPES)

    def test_registered_and_built_from_config(self):
        self.assertIn("TrackROIHeads", ROI_HEADS_REGISTRY)
        heads = self.build()
        self.assertIsInstance(heads, TrackROIHeads)
        self.assertTrue(heads.track_on and heads.mask_on and heads.class_agnostic_nms)
        self.assertFalse(self.build(track_on=False).track_on)

    def _train_step(self, heads, with_ref=True):
        proposals, targets, refs = training_batch()
        feats, ref_feats = features(seed=0), features(seed=1)
        with EventStorage():
            kw = dict(ref_features=ref_feats, ref_targets=refs) if with_ref else {}
            sampled, losses = heads(
                ImageList(torch.zeros(2, 3, *SIZE), [SIZE] * 2), feats, proposals, targets, **kw
            )
        return sampled, targets, losses

    def test_training_losses_and_gradients(self):
        for name in ("masktrack", "contrastive"):
            with self.subTest(name=name):
                heads = self.build(name=name)
                heads.train()
                sampled, targets, losses = self._train_step(heads)
                self.assertEqual(
                    set(losses), {"loss_cls", "loss_box_reg", "loss_mask", "loss_track"}
                )
                self.assertTrue(all(math.isfinite(v.item()) for v in losses.values()))
                self.assertGreater(losses["loss_track"].item(), 0)
                sum(losses.values()).backward()
                for p in heads.track_head.parameters():
                    self.assertIsNotNone(p.grad)
                    self.assertGreater(p.grad.abs().sum().item(), 0)
                # detectron2's label_and_sample_proposals copied gt_ids to the sampled proposals
                for s, tg in zip(sampled, targets):
                    fg = (s.gt_classes >= 0) & (s.gt_classes < NUM_CLASSES)
                    self.assertGreater(int(fg.sum()), 0)
                    for box, gid in zip(s.gt_boxes.tensor[fg], s.gt_ids[fg]):
                        k = (tg.gt_boxes.tensor == box).all(1).nonzero()[0, 0]
                        self.assertEqual(int(gid), int(tg.gt_ids[k]))

    def test_without_track_branch_it_is_mask_rcnn(self):
        heads = self.build(track_on=False)
        heads.train()
        _, _, losses = self._train_step(heads, with_ref=False)
        self.assertEqual(set(losses), {"loss_cls", "loss_box_reg", "loss_mask"})
        self.assertFalse(hasattr(heads, "track_head"))
        with self.assertRaises(RuntimeError):
            heads.track_embeddings(features(), [Boxes(torch.zeros(0, 4))] * 2)

    def test_training_needs_reference(self):
        heads = self.build()
        heads.train()
        with self.assertRaises(ValueError):
            self._train_step(heads, with_ref=False)

    def _controlled_inference(self, agnostic=True, topk=100):
        """Box predictor fixed to P = [0.5, 0.4, 0.05 | bg 0.05] for every RoI and zero deltas."""
        cfg = tiny_cfg()
        cfg.MODEL.ROI_HEADS.CLASS_AGNOSTIC_NMS = agnostic
        cfg.TEST.DETECTIONS_PER_IMAGE = topk
        torch.manual_seed(0)
        heads = build_roi_heads(cfg, SHAPES).eval()
        with torch.no_grad():
            pred = heads.box_predictor
            pred.cls_score.weight.zero_()
            pred.cls_score.bias.copy_(torch.tensor([0.5, 0.4, 0.05, 0.05]).log())
            pred.bbox_pred.weight.zero_()
            pred.bbox_pred.bias.zero_()
        p = Instances(SIZE)
        p.proposal_boxes = Boxes(torch.tensor([[4, 4, 24, 24], [40, 40, 60, 60.0]]))
        p.objectness_logits = torch.zeros(2)
        feats = features(n=1)
        with torch.no_grad():
            out, extra = heads(ImageList(torch.zeros(1, 3, *SIZE), [SIZE]), feats, [p])
        self.assertEqual(extra, {})
        return heads, feats, out[0]

    def test_inference_class_agnostic_nms_and_outputs(self):
        _, _, plain = self._controlled_inference(agnostic=False)
        # per-class only: each box gives class 0 (0.5) and class 1 (0.4); class 2 (0.05) < 0.3
        self.assertEqual(sorted(plain.pred_classes.tolist()), [0, 0, 1, 1])
        heads, feats, inst = self._controlled_inference(agnostic=True)
        # class-agnostic: the identical class-1 box (score 0.4) is suppressed by the class-0 box
        self.assertEqual(inst.pred_classes.tolist(), [0, 0])
        self.assertTrue(torch.allclose(inst.scores, torch.tensor([0.5, 0.5])))
        self.assertEqual(inst.pred_embeds.shape, (2, 8))
        self.assertEqual(inst.pred_masks.shape, (2, 1, 8, 8))
        expected = heads.track_embeddings(feats, [inst.pred_boxes])[0]
        self.assertTrue(torch.allclose(inst.pred_embeds, expected))
        _, _, top1 = self._controlled_inference(agnostic=True, topk=1)
        self.assertEqual(len(top1), 1)

    def test_mask_logits(self):
        heads = self.build()
        feats = features()
        boxes = [
            Boxes(torch.tensor([[4, 4, 24, 24], [10, 10, 50, 40], [0, 0, 63, 63.0]])),
            Boxes(torch.zeros(0, 4)),
        ]
        classes = [torch.tensor([0, 2, 1]), torch.zeros(0, dtype=torch.int64)]
        logits = heads.mask_logits(feats, boxes, classes)
        self.assertEqual([tuple(x.shape) for x in logits], [(3, 8, 8), (0, 8, 8)])
        # the chosen channel of the mask head's raw output, before the sigmoid
        raw = heads.mask_head.layers(heads.mask_pooler([feats["p2"], feats["p3"]], boxes))
        self.assertTrue(torch.allclose(logits[0], raw[torch.arange(3), classes[0]]))
        none = heads.mask_logits(
            feats, [Boxes(torch.zeros(0, 4))] * 2, [torch.zeros(0, dtype=torch.int64)] * 2
        )
        self.assertEqual([tuple(x.shape) for x in none], [(0, 8, 8), (0, 8, 8)])
        emb = heads.track_embeddings(feats, boxes)
        self.assertEqual([tuple(x.shape) for x in emb], [(3, 8), (0, 8)])


if __name__ == "__main__":
    unittest.main()
