"""Starting a VPSNet from detectron2 model-zoo weights: a stock Mask R-CNN R50-FPN (Cityscapes, 8
thing classes) and a COCO Panoptic FPN, built with random weights and saved in the model zoo's pkl
format, load through the checkpointer into the R50 VPSNet, and the load report says, module by
module, which weights came from them and which heads the VPSNet initialised (MODEL_ZOO.md)."""
import os
import pickle
import tempfile
import unittest

from detectron2 import model_zoo
from detectron2.config import get_cfg as get_d2_cfg
from detectron2.modeling import build_model

from vps_d2.engine import VPSCheckpointer

from ..common import CONFIGS, get_config

TRUNK = {"backbone.bottom_up": 265, "backbone.fpn_lateral2": 2, "backbone.fpn_lateral3": 2, "backbone.fpn_lateral4": 2,
         "backbone.fpn_lateral5": 2, "backbone.fpn_output2": 2, "backbone.fpn_output3": 2, "backbone.fpn_output4": 2,
         "backbone.fpn_output5": 2, "proposal_generator.rpn_head": 6, "roi_heads.box_head": 4}
SEMANTIC = {"sem_seg_head.predictor": 2, "sem_seg_head.shared": 9}
NEW_HEADS = dict(SEMANTIC, **{"edge_head.convs": 6, "fuse_head.align": 10, "fuse_head.attend": 6, "roi_heads.track_head": 4})


def save_model_zoo_pkl(d2_config: str, path: str) -> None:
    """A stock detectron2 model (random weights) as the model zoo ships it: numpy arrays under
    ``model`` and the zoo's ``__author__``."""
    cfg = get_d2_cfg()
    cfg.merge_from_file(model_zoo.get_config_file(d2_config))
    cfg.MODEL.DEVICE = "cpu"
    state = build_model(cfg).state_dict()
    with open(path, "wb") as f:
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()}, "__author__": "Detectron2 Model Zoo"}, f)


class TestModelZooStart(unittest.TestCase):
    def start(self, d2_config: str, vps_config: str):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "model_final.pkl")
            save_model_zoo_pkl(d2_config, path)
            cfg = get_config(os.path.join(CONFIGS, "Cityscapes-VPS", vps_config))
            self.assertTrue(cfg.MODEL.WEIGHTS.startswith("detectron2://"), cfg.MODEL.WEIGHTS)  # documented source
            cfg.MODEL.DEVICE = "cpu"
            cfg.MODEL.WEIGHTS = path  # offline: the downloaded file
            model = build_model(cfg)
            checkpointer = VPSCheckpointer(model)
            checkpointer.load(path)
            return checkpointer.load_report, model

    def test_cityscapes_mask_rcnn(self):
        mask_rcnn = dict(TRUNK, **{"roi_heads.box_predictor": 4, "roi_heads.mask_head": 12})
        report, _ = self.start("Cityscapes/mask_rcnn_R_50_FPN.yaml",
                               "vpsnet_base_R_50_FPN_144ep_cityscapes_vps_from_cityscapes_mask_rcnn.yaml")
        self.assertEqual(report["loaded"], mask_rcnn)
        self.assertEqual(report["initialised"], SEMANTIC)
        self.assertEqual(report["unused"], {})
        # VPSNet++ f straight from it: the same 307 tensors; the video heads are initialised too
        report, model = self.start("Cityscapes/mask_rcnn_R_50_FPN.yaml", "vpsnet_pp_f_R_50_FPN_144ep_cityscapes_vps.yaml")
        self.assertEqual(report["loaded"], mask_rcnn)
        self.assertEqual(report["initialised"], NEW_HEADS)
        self.assertEqual((sum(mask_rcnn.values()), len(model.state_dict())), (307, 344))

    def test_coco_panoptic_fpn(self):
        report, _ = self.start("COCO-PanopticSegmentation/panoptic_fpn_R_50_3x.yaml",
                               "vpsnet_base_R_50_FPN_144ep_cityscapes_vps_from_coco_panoptic_fpn.yaml")
        # 80 COCO classes: the box predictor and the mask head's predictor do not fit the 8 things
        self.assertEqual(report["loaded"], dict(TRUNK, **{"roi_heads.mask_head": 10}))
        self.assertEqual(report["initialised"], dict(SEMANTIC, **{"roi_heads.box_predictor": 4, "roi_heads.mask_head": 2}))
        # Panoptic FPN's semantic head has another structure: none of it is used
        self.assertEqual(report["unused"], {"sem_seg_head.p2": 3, "sem_seg_head.p3": 3, "sem_seg_head.p4": 6, "sem_seg_head.p5": 9})
        self.assertEqual(sum(report["loaded"].values()), 301)

if __name__ == "__main__":
    unittest.main()
