import os
import tempfile
import unittest

import numpy as np
import torch

from vps_d2.modeling.flow import build_initial_flow
from vps_d2.utils.errors import UserError

from ..common import get_config


def textured(h=64, w=128, seed=0):
    import cv2

    rng = np.random.default_rng(seed)
    return cv2.resize(rng.integers(0, 255, (h // 4, w // 4, 3)).astype(np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)


class TestInitialFlow(unittest.TestCase):
    def build(self, name, **kw):
        cfg = get_config()
        cfg.MODEL.FLOW.NAME = name
        for k, v in kw.items():
            setattr(cfg.MODEL.FLOW, k, v)
        return build_initial_flow(cfg)

    def test_zero_flow_shape(self):
        flows = self.build("zero")([torch.zeros(3, 63, 129, dtype=torch.uint8)], [torch.zeros(3, 63, 129, dtype=torch.uint8)])
        self.assertEqual(tuple(flows[0].shape), (2, 16, 33))
        self.assertEqual(flows[0].abs().sum().item(), 0)

    def test_dis_flow_finds_a_shift(self):
        img = textured(128, 256)
        ref = np.roll(img, 8, axis=1)  # the target's content sits 8 px (2 px at 1/4) to the right
        to_t = lambda a: torch.from_numpy(a).permute(2, 0, 1).contiguous()  # noqa: E731
        flow = self.build("dis")([to_t(img)], [to_t(ref)])[0]
        self.assertEqual(tuple(flow.shape), (2, 32, 64))
        self.assertAlmostEqual(float(flow[0, :, 4:-4].median()), 2.0, delta=0.3)

    def test_raft_loads_weights_from_a_path_and_never_downloads(self):
        with self.assertRaisesRegex(UserError, "MODEL.FLOW.WEIGHTS: RAFT weights file 'nope.pth' not found"):
            self.build("raft", WEIGHTS="nope.pth")
        from torchvision.models.optical_flow import raft_small

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "raft_small.pth")
            torch.save(raft_small(weights=None).state_dict(), path)
            model = self.build("raft", WEIGHTS=path)
            model.train()
            self.assertFalse(model.training)
            self.assertFalse(any(p.requires_grad for p in model.parameters()))
            img = torch.from_numpy(textured(130, 150)).permute(2, 0, 1)  # RAFT needs >= 128 px
            flow = model([img], [img])[0]
            self.assertEqual(tuple(flow.shape), (2, 33, 38))
            self.assertTrue(torch.isfinite(flow).all())

    def test_unknown_source_is_a_clear_error(self):
        with self.assertRaisesRegex(ValueError, "MODEL.FLOW.NAME: unknown flow source 'flownet2'"):
            self.build("flownet2")


if __name__ == "__main__":
    unittest.main()
