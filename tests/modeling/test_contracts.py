"""A config that selects a component VPSNet cannot use fails when the model is built, with one line
naming the key, the value and what is expected (issue 24)."""
import os
import unittest

from detectron2.modeling import build_model

from vps_d2.utils.errors import UserError

from ..common import CONFIGS, get_config

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")


class TestContracts(unittest.TestCase):
    def assert_build_fails(self, opts, message):
        cfg = get_config(TINY)
        cfg.merge_from_list(opts)
        with self.assertRaises(UserError) as caught:
            build_model(cfg)
        self.assertEqual(str(caught.exception), message)

    def test_stock_roi_heads(self):
        self.assert_build_fails(
            ["MODEL.ROI_HEADS.NAME", "StandardROIHeads"],
            "MODEL.ROI_HEADS.NAME=StandardROIHeads: VPSNet needs ROI heads that accept reference features and "
            "give mask logits for the panoptic head (TrackROIHeads or a subclass)")

    def test_stock_semantic_head(self):
        self.assert_build_fails(
            ["MODEL.SEM_SEG_HEAD.NAME", "SemSegFPNHead"],
            "MODEL.SEM_SEG_HEAD.NAME=SemSegFPNHead: VPSNet needs a semantic head that returns (logits, pixel "
            "embedding) and computes its own loss (UPSNetSemanticHead or a subclass)")

    def test_our_semantic_head_in_panoptic_fpn(self):
        self.assert_build_fails(
            ["MODEL.META_ARCHITECTURE", "PanopticFPN"],
            "MODEL.SEM_SEG_HEAD.NAME=UPSNetSemanticHead: a vps_d2 head, built only by VPSNet; "
            "MODEL.META_ARCHITECTURE=PanopticFPN expects one of detectron2's (e.g. SemSegFPNHead)")

    def test_unknown_names(self):
        for key, value, what in (("MODEL.ROI_HEADS.NAME", "TrackROIHead", "ROI heads"),
                                 ("MODEL.TRACK_HEAD.NAME", "mask_track", "track head"),
                                 ("MODEL.ROI_MASK_HEAD.NAME", "MaskHead", "mask head")):
            cfg = get_config(TINY)
            cfg.merge_from_list([key, value])
            with self.assertRaises(UserError) as caught:
                build_model(cfg)
            self.assertRegex(str(caught.exception), rf"^{key}: unknown {what} '{value}', expected one of \[.*\]$")

    def test_default_config_builds(self):
        build_model(get_config(TINY))  # every name of the tiny config is registered and fits


if __name__ == "__main__":
    unittest.main()
