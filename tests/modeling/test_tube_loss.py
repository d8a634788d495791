import math
import unittest

import torch

from vps_d2.modeling.panoptic import tube_discrimination_loss


def _emb(pixels):
    """(E=2, 2, 2) embedding from a row-major list of four 2-d pixel vectors."""
    return torch.tensor(pixels, dtype=torch.float32).t().reshape(2, 2, 2)


# target frame: top row segment 0 with pixels (1, 0), (2, 0); bottom row segment 1 with (0, 1), (0, 3).
# Per-pixel L2 normalisation makes them (1, 0), (1, 0), (0, 1), (0, 1): u_0 = (1, 0), u_1 = (0, 1).
EMB_T = _emb([[1, 0], [2, 0], [0, 1], [0, 3]])
CODES_T = torch.tensor([[0, 0], [1, 1]])
NONE_REF = torch.full((2, 2), -1)


class TestTubeLoss(unittest.TestCase):
    def test_single_frame_hand_value(self):
        # every pixel: similarity 1 with its own segment, 0 with the other; temperature T:
        # CE = -log(e^{1/T} / (e^{1/T} + 1)) = log(1 + e^{-1/T}), the same for the 4 pixels
        for t in (1.0, 0.5):
            loss = tube_discrimination_loss(EMB_T, torch.zeros(2, 2, 2), CODES_T, NONE_REF, temperature=t)
            self.assertAlmostEqual(loss.item(), math.log(1 + math.exp(-1 / t)), places=5)

    def test_reference_averaging(self):
        # the reference has segment 0 with embedding (0, 1) (and code 7, absent from the target:
        # unused). Tube 0 = normalise((1, 0) + (0, 1)) = (1, 1)/sqrt2; tube 1 = (0, 1) (not in ref).
        # segment-0 pixels (1, 0): logits [1/sqrt2, 0] -> a = log(1 + e^{-1/sqrt2})
        # segment-1 pixels (0, 1): logits [1/sqrt2, 1] -> b = log(1 + e^{1/sqrt2 - 1})
        # mean over 4 pixels = (a + b) / 2
        emb_r = _emb([[0, 1], [0, 5], [3, 3], [-1, 0]])
        codes_r = torch.tensor([[0, 0], [7, -1]])
        r = 1 / math.sqrt(2)
        a, b = math.log(1 + math.exp(-r)), math.log(1 + math.exp(r - 1))
        loss = tube_discrimination_loss(EMB_T, emb_r, CODES_T, codes_r, temperature=1.0)
        self.assertAlmostEqual(loss.item(), (a + b) / 2, places=5)
        # without the reference the value is the single-frame one
        alone = tube_discrimination_loss(EMB_T, emb_r, CODES_T, NONE_REF, temperature=1.0)
        self.assertAlmostEqual(alone.item(), math.log(1 + math.exp(-1)), places=5)

    def test_ignored_pixels(self):
        # pixel (0, 1) ignored and given embedding (0, 1): if it were pooled, u_0 would change.
        emb = _emb([[1, 0], [0, 1], [0, 1], [0, 3]])
        codes = torch.tensor([[0, -1], [1, 1]])
        loss = tube_discrimination_loss(emb, torch.zeros(2, 2, 2), codes, NONE_REF, temperature=1.0)
        self.assertAlmostEqual(loss.item(), math.log(1 + math.exp(-1)), places=5)

    def test_no_labels_and_gradients(self):
        emb_t = EMB_T.clone().requires_grad_()
        emb_r = torch.randn(2, 2, 2, requires_grad=True)
        zero = tube_discrimination_loss(emb_t, emb_r, NONE_REF, CODES_T)
        self.assertEqual(zero.item(), 0.0)
        zero.backward()
        self.assertEqual(emb_t.grad.abs().sum().item(), 0.0)
        # with labels and a matching reference, both frames get gradients
        torch.manual_seed(0)
        emb_t = torch.randn(4, 3, 5, requires_grad=True)
        emb_r = torch.randn(4, 3, 5, requires_grad=True)
        codes = torch.randint(-1, 3, (3, 5))
        loss = tube_discrimination_loss(emb_t, emb_r, codes, codes.flip(1), temperature=0.1)
        self.assertTrue(torch.isfinite(loss))
        loss.backward()
        self.assertGreater(emb_t.grad.abs().sum().item(), 0)
        self.assertGreater(emb_r.grad.abs().sum().item(), 0)

    def test_size_mismatch_rejected(self):
        with self.assertRaises(ValueError):
            tube_discrimination_loss(EMB_T, EMB_T, torch.zeros(3, 2, dtype=torch.long), NONE_REF)


if __name__ == "__main__":
    unittest.main()
