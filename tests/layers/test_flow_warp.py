"""Tests of vps_d2.layers.flow_warp: one semantics for the reference, the CPU and the CUDA kernels.

CPU cases run everywhere (kernel cases need ``vps_d2._C``); CUDA cases need a GPU and an extension
built with its CUDA kernels and are skipped otherwise.
"""
import importlib
import logging
import unittest
from unittest import mock

import torch
import torch.nn.functional as F
from torch.autograd import gradcheck

from vps_d2.layers import extension
from vps_d2.layers.flow_warp import FlowWarp, flow_warp, flow_warp_reference

# The module itself (the package re-exports the function `flow_warp` under the same name).
fw = importlib.import_module("vps_d2.layers.flow_warp")

HAS_CPU_KERNEL = fw.cpu_kernel_available()
HAS_CUDA = torch.cuda.is_available() and fw.cuda_kernel_available()
NO_CUDA_REASON = "needs a GPU and vps_d2._C built with CUDA kernels"


def cpu_impls():
    return ["pytorch"] + (["cpu"] if HAS_CPU_KERNEL else [])


def random_flow(n, h, w, dtype=torch.float32, device="cpu", scale=3.0, seed=0):
    """Sub-pixel flows, a fifth of them pushed far outside the image."""
    g = torch.Generator().manual_seed(seed)
    flow = torch.randn(n, 2, h, w, generator=g, dtype=torch.float64) * scale
    far = torch.rand(n, 1, h, w, generator=g) < 0.2
    flow = torch.where(far, flow.sign() * (max(h, w) + 2.0) + flow, flow)
    return flow.to(device=device, dtype=dtype)


def smooth_flow(n, h, w, dtype=torch.float32, device="cpu", seed=0):
    """A smooth random field (bilinear upsampling of a coarse one) with a discontinuity."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, 2, 3, 4, generator=g, dtype=torch.float64) * 4
    flow = F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    flow[:, :, h // 3 : h // 2, w // 4 : w // 2] += 7.3
    return flow.to(device=device, dtype=dtype)


def shift(x, dx, dy):
    """x moved so that out[..., y, x] = x[..., y + dy, x + dx], zero where that is outside."""
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    ys, yd = slice(max(dy, 0), h + min(dy, 0)), slice(max(-dy, 0), h + min(-dy, 0))
    xs, xd = slice(max(dx, 0), w + min(dx, 0)), slice(max(-dx, 0), w + min(-dx, 0))
    out[..., yd, xd] = x[..., ys, xs]
    return out


def value_and_grads(impl, x, flow, grad_out):
    x = x.detach().clone().requires_grad_()
    flow = flow.detach().clone().requires_grad_()
    out = flow_warp(x, flow, impl=impl)
    gx, gf = torch.autograd.grad(out, (x, flow), grad_out)
    return out.detach(), gx, gf


class TestFlowWarpSemantics(unittest.TestCase):
    """What every implementation must do (reference, and the CPU kernel when built)."""

    def setUp(self):
        torch.manual_seed(0)

    def test_zero_flow_is_identity(self):
        for impl in cpu_impls():
            for dtype in (torch.float32, torch.float64):
                for shape in [(2, 3, 7, 9), (1, 2, 1, 5), (1, 2, 4, 1), (1, 1, 1, 1)]:
                    x = torch.randn(*shape, dtype=dtype)
                    flow = torch.zeros(shape[0], 2, *shape[2:], dtype=dtype)
                    out = flow_warp(x, flow, impl=impl)
                    if impl == "pytorch":  # grid_sample renormalises coordinates: rounding only
                        torch.testing.assert_close(out, x, atol=1e-6, rtol=0)
                    else:  # the kernel samples at exactly (x, y) with weight 1
                        self.assertTrue(torch.equal(out, x), (impl, dtype, shape))

    def test_integer_shift_is_a_zero_filled_roll(self):
        x = torch.randn(2, 3, 6, 8)
        for impl in cpu_impls():
            for dx, dy in [(1, 0), (0, 1), (-2, 0), (0, -3), (2, -1), (-7, 5)]:
                flow = torch.empty(2, 2, 6, 8)
                flow[:, 0], flow[:, 1] = dx, dy
                out = flow_warp(x, flow, impl=impl)
                # The kernel is exact; grid_sample renormalises coordinates (rounding only).
                tol = 1e-5 if impl == "pytorch" else 0.0
                torch.testing.assert_close(out, shift(x, dx, dy), atol=tol, rtol=0)

    def test_out_of_image_reads_zero(self):
        x = torch.randn(1, 2, 5, 6) + 3.0  # no zeros in the image itself
        for impl in cpu_impls():
            far = [(6.0, 0.0), (-1.5, 0.0), (0.0, 5.0), (0.0, -1.01), (100.0, -100.0), (-1e9, 0.0)]
            for dx, dy in far:
                flow = torch.zeros(1, 2, 5, 6)
                flow[:, 0], flow[:, 1] = dx, dy
                out = flow_warp(x, flow, impl=impl)
                # Pixel (y=0, x=0) sampled at (dx, dy): every corner is outside the image.
                self.assertEqual(out[0, :, 0, 0].abs().max().item(), 0.0, (impl, dx, dy))
            # Half a pixel beyond the right border: 0.5 * last column + 0.5 * zero padding.
            flow = torch.zeros(1, 2, 5, 6)
            flow[:, 0] = 0.5
            out = flow_warp(x, flow, impl=impl)
            torch.testing.assert_close(out[..., -1], 0.5 * x[..., -1], atol=1e-6, rtol=0)
            # Exactly one pixel before the left border: the only in-image corner has weight 0.
            flow[:, 0] = -1.0
            out = flow_warp(x, flow, impl=impl)
            zeros = torch.zeros_like(out[..., 0])
            torch.testing.assert_close(out[..., 0], zeros, atol=1e-6, rtol=0)

    def test_hand_computed_bilinear_sample(self):
        # x = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]; pixel (y=1, x=1) with flow (0.25, 0.5)
        # samples (1.25, 1.5): rows 1 and 2, columns 1 and 2 with weights
        # (0.75*0.5, 0.25*0.5, 0.75*0.5, 0.25*0.5) -> 0.375*5 + 0.125*6 + 0.375*9 + 0.125*10 = 7.25
        # (= 4 * 1.5 + 1.25: the sample of the linear ramp 4y + x).
        x = torch.arange(12.0).view(1, 1, 3, 4)
        flow = torch.zeros(1, 2, 3, 4)
        flow[0, 0, 1, 1], flow[0, 1, 1, 1] = 0.25, 0.5
        for impl in cpu_impls():
            out = flow_warp(x, flow, impl=impl)
            self.assertAlmostEqual(out[0, 0, 1, 1].item(), 7.25, places=5)

    def test_reference_gradcheck(self):
        x = torch.randn(2, 2, 4, 5, dtype=torch.float64, requires_grad=True)
        flow = random_flow(2, 4, 5, torch.float64, scale=1.5).requires_grad_()
        self.assertTrue(gradcheck(flow_warp_reference, (x, flow), eps=1e-6, atol=1e-5))

    def test_empty_inputs(self):
        for impl in cpu_impls():
            for shape in [(0, 3, 4, 5), (2, 0, 4, 5)]:
                x = torch.randn(*shape, requires_grad=True)
                flow = torch.randn(shape[0], 2, 4, 5, requires_grad=True)
                out = flow_warp(x, flow, impl=impl)
                self.assertEqual(out.shape, shape)
                out.sum().backward()
                self.assertEqual(x.grad.shape, x.shape)
                self.assertEqual(flow.grad.abs().sum().item(), 0.0)

    def test_non_contiguous_inputs(self):
        base = torch.randn(2, 6, 5, 7)
        x = base[:, ::2]  # channel stride 2
        flow = random_flow(2, 7, 5).transpose(2, 3)  # (N, 2, H=5, W=7), transposed strides
        x_cl = torch.randn(2, 3, 5, 7).to(memory_format=torch.channels_last)
        grad = torch.randn(2, 3, 5, 7)
        for impl in cpu_impls():
            for xx in (x, x_cl):
                self.assertFalse(xx.is_contiguous())
                expected = value_and_grads(impl, xx.contiguous(), flow.contiguous(), grad)
                grad_nc = grad.transpose(2, 3).contiguous().transpose(2, 3)
                got = value_and_grads(impl, xx, flow, grad_nc)
                for a, b in zip(got, expected):
                    torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6)

    def test_bad_inputs_raise_clear_errors(self):
        x, flow = torch.randn(1, 3, 4, 5), torch.randn(1, 2, 4, 5)
        for impl in cpu_impls():
            with self.assertRaisesRegex(ValueError, r"x must be a 4-D tensor \(N, C, H, W\)"):
                flow_warp(x[0], flow, impl=impl)
            with self.assertRaisesRegex(ValueError, r"flow must be a 4-D tensor \(N, 2, H, W\)"):
                flow_warp(x, torch.randn(1, 3, 4, 5), impl=impl)
            with self.assertRaisesRegex(ValueError, "must match x"):
                flow_warp(x, torch.randn(1, 2, 4, 6), impl=impl)
            with self.assertRaisesRegex(ValueError, "must match x"):
                flow_warp(x, torch.randn(2, 2, 4, 5), impl=impl)
            with self.assertRaisesRegex(TypeError, "floating point"):
                flow_warp(x.long(), flow, impl=impl)
            with self.assertRaisesRegex(TypeError, "same dtype"):
                flow_warp(x, flow.double(), impl=impl)
            with self.assertRaisesRegex(RuntimeError, "same device"):
                flow_warp(x, flow.to("meta"), impl=impl)
        with self.assertRaisesRegex(ValueError, "impl must be one of"):
            flow_warp(x, flow, impl="grid_sample")
        with self.assertRaisesRegex(ValueError, "impl must be one of"):
            FlowWarp(impl="fast")

    def test_half_precision_is_computed_in_float32(self):
        x, flow = torch.randn(1, 3, 6, 7), random_flow(1, 6, 7)
        for impl in cpu_impls():
            expected = flow_warp(x, flow, impl=impl)
            for dtype in (torch.float16, torch.bfloat16):
                out = flow_warp(x.to(dtype), flow.to(dtype), impl=impl)
                self.assertEqual(out.dtype, dtype)
                torch.testing.assert_close(out.float(), expected, atol=0.1, rtol=0.05)
            # Under autocast mixed dtypes are promoted, like grid_sample: bf16 x, fp32 flow -> fp32.
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = flow_warp(x.bfloat16(), flow, impl=impl)
            self.assertEqual(out.dtype, torch.float32)
            torch.testing.assert_close(out, flow_warp(x.bfloat16().float(), flow, impl=impl))


@unittest.skipIf(not HAS_CPU_KERNEL, "vps_d2._C (flow warp ops) not built")
class TestFlowWarpCPUKernel(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)

    def _check_matches_reference(self, shape, flow, dtype, atol):
        x = torch.randn(*shape, dtype=dtype)
        grad = torch.randn(*shape, dtype=dtype)
        got = value_and_grads("cpu", x, flow, grad)
        ref = value_and_grads("pytorch", x, flow, grad)
        for name, a, b in zip(("out", "grad_x", "grad_flow"), got, ref):
            torch.testing.assert_close(
                a, b, atol=atol, rtol=atol, msg=lambda m: f"{name} {shape} {dtype}: {m}"
            )

    def test_cpu_kernel_matches_reference(self):
        for dtype, atol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
            for shape in [(2, 3, 7, 9), (1, 5, 1, 6), (3, 2, 5, 1), (1, 4, 13, 37)]:
                n, _, h, w = shape
                self._check_matches_reference(shape, random_flow(n, h, w, dtype), dtype, atol)
                self._check_matches_reference(shape, smooth_flow(n, h, w, dtype), dtype, atol)

    def test_cpu_kernel_matches_reference_when_split_over_threads(self):
        # Large enough for several row blocks / channel chunks (the parallel paths).
        f64 = torch.float64
        self._check_matches_reference((2, 37, 48, 80), smooth_flow(2, 48, 80, f64), f64, 1e-10)
        self._check_matches_reference((1, 64, 40, 70), random_flow(1, 40, 70, f64), f64, 1e-10)
        # C = 5 over 4 threads: channel chunks of 2, 2, 1 and an empty last one.
        threads = torch.get_num_threads()
        try:
            torch.set_num_threads(4)
            flow = smooth_flow(1, 230, 230, f64)
            self._check_matches_reference((1, 5, 230, 230), flow, f64, 1e-10)
        finally:
            torch.set_num_threads(threads)

    def test_float32_precision(self):
        # The kernel takes the cell and fraction from the flow (x + floor(dx), dx - floor(dx)),
        # so float32 keeps the fraction exact even at x = 511; grid_sample's renormalised
        # coordinate loses up to ulp(512) there (errors ~1e-4 for unit-scale features).
        x, flow = torch.randn(1, 4, 16, 512), smooth_flow(1, 16, 512)
        truth = flow_warp_reference(x.double(), flow.double())
        err = (flow_warp(x, flow, impl="cpu").double() - truth).abs().max().item()
        self.assertLess(err, 2e-6)

    def test_gradcheck_cpu(self):
        x = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
        flow = random_flow(2, 4, 5, torch.float64, scale=1.5).requires_grad_()
        kernel = lambda a, b: flow_warp(a, b, impl="cpu")  # noqa: E731
        self.assertTrue(gradcheck(kernel, (x, flow), eps=1e-6, atol=1e-5))
        # Gradient for one input only.
        self.assertTrue(gradcheck(lambda a: flow_warp(a, flow.detach(), impl="cpu"), (x,)))
        self.assertTrue(gradcheck(lambda b: flow_warp(x.detach(), b, impl="cpu"), (flow,)))

    def test_op_checks(self):
        x, flow = torch.randn(1, 3, 4, 5), torch.randn(1, 2, 4, 5)
        op = torch.ops.vps_d2.flow_warp_forward
        with self.assertRaisesRegex(ValueError, r"x must be a 4-D tensor"):
            op(x[0], flow)
        with self.assertRaisesRegex(ValueError, r"must match x"):
            op(x, flow[..., :4])
        with self.assertRaisesRegex(TypeError, "float32 and float64"):
            op(x.half(), flow.half())
        with self.assertRaisesRegex(TypeError, "same dtype"):
            op(x, flow.double())
        with self.assertRaisesRegex(ValueError, "grad_out must have the shape of x"):
            torch.ops.vps_d2.flow_warp_backward(x[:, :2], x, flow, True, True)
        gx, gf = torch.ops.vps_d2.flow_warp_backward(x, x, flow, False, True)
        self.assertIsNone(gx)
        self.assertEqual(gf.shape, flow.shape)

    def test_module_and_config(self):
        from detectron2.config import get_cfg

        from vps_d2.config import add_vps_config

        cfg = get_cfg()
        add_vps_config(cfg)
        cfg.MODEL.FLOW.WARP_IMPL = "cpu"
        module = FlowWarp.from_config(cfg)
        self.assertEqual(repr(module), "FlowWarp(impl='cpu')")
        x, flow = torch.randn(1, 2, 5, 6), random_flow(1, 5, 6)
        torch.testing.assert_close(module(x, flow), flow_warp_reference(x, flow), atol=1e-5, rtol=0)


class TestImplSelection(unittest.TestCase):
    def setUp(self):
        fw._warned_fallback.clear()
        self.x, self.flow = torch.randn(1, 2, 5, 6), random_flow(1, 5, 6)

    def tearDown(self):
        fw._warned_fallback.clear()

    def test_auto_falls_back_with_a_single_warning(self):
        with mock.patch.object(extension, "has_extension", return_value=False):
            with self.assertLogs(fw.logger, level=logging.WARNING) as logs:
                for _ in range(3):
                    out = flow_warp(self.x, self.flow, impl="auto")
                FlowWarp()(self.x, self.flow)
        self.assertEqual(len(logs.records), 1, logs.output)
        self.assertIn("falls back to the PyTorch reference", logs.output[0])
        torch.testing.assert_close(out, flow_warp_reference(self.x, self.flow))

    @unittest.skipIf(not HAS_CPU_KERNEL, "vps_d2._C (flow warp ops) not built")
    def test_auto_uses_the_kernel_silently(self):
        fail = AssertionError("used the reference")
        with mock.patch.object(fw, "flow_warp_reference", side_effect=fail):
            with self.assertNoLogs(fw.logger, level=logging.WARNING):
                flow_warp(self.x, self.flow, impl="auto")

    def test_explicit_kernel_that_is_not_built_raises(self):
        with mock.patch.object(extension, "has_extension", return_value=False):
            for impl in ("cpu", "cuda"):
                with self.assertRaisesRegex(RuntimeError, f"WARP_IMPL='{impl}' needs the compiled"):
                    flow_warp(self.x, self.flow, impl=impl)
        if not HAS_CPU_KERNEL:
            with self.assertRaisesRegex(RuntimeError, "vps_d2._C did not import"):
                flow_warp(self.x, self.flow, impl="cuda")
        elif not fw.cuda_kernel_available():
            with self.assertRaisesRegex(RuntimeError, "built without CUDA kernels"):
                flow_warp(self.x, self.flow, impl="cuda")
        else:
            with self.assertRaisesRegex(ValueError, "inputs are on cpu"):
                flow_warp(self.x, self.flow, impl="cuda")

    def test_pytorch_impl_never_uses_the_extension(self):
        fail = AssertionError("used the kernel")
        with mock.patch.object(fw, "_FlowWarpFunction", side_effect=fail):
            with self.assertNoLogs(fw.logger, level=logging.WARNING):
                flow_warp(self.x, self.flow, impl="pytorch")


@unittest.skipIf(not HAS_CUDA, NO_CUDA_REASON)
class TestFlowWarpCUDA(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)

    def test_cuda_zero_flow_is_identity_and_integer_shift(self):
        for dtype in (torch.float32, torch.float64):
            x = torch.randn(2, 5, 9, 70, dtype=dtype, device="cuda")
            flow = torch.zeros(2, 2, 9, 70, dtype=dtype, device="cuda")
            self.assertTrue(torch.equal(flow_warp(x, flow, impl="cuda"), x))
            flow[:, 0], flow[:, 1] = 3, -2
            out = flow_warp(x, flow, impl="cuda")
            torch.testing.assert_close(out, shift(x, 3, -2), atol=0, rtol=0)
            flow[:, 0] = 1e9
            self.assertEqual(flow_warp(x, flow, impl="cuda").abs().max().item(), 0.0)

    def test_cuda_kernel_matches_reference_and_cpu_kernel(self):
        cases = [
            ((2, 3, 7, 9), random_flow),
            ((1, 13, 37, 70), smooth_flow),
            ((2, 256, 24, 40), smooth_flow),
            ((1, 8, 33, 65), random_flow),
            ((1, 3, 1, 5), random_flow),
        ]
        for dtype, atol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
            for shape, make_flow in cases:
                n, _, h, w = shape
                x = torch.randn(*shape, dtype=dtype, device="cuda")
                grad = torch.randn(*shape, dtype=dtype, device="cuda")
                flow = make_flow(n, h, w, dtype, device="cuda")
                got = value_and_grads("cuda", x, flow, grad)
                for other in ("pytorch",) + (("cpu",) if HAS_CPU_KERNEL else ()):
                    dev = "cuda" if other == "pytorch" else "cpu"
                    ref = value_and_grads(other, x.to(dev), flow.to(dev), grad.to(dev))
                    for a, b in zip(got, ref):
                        torch.testing.assert_close(a.cpu(), b.cpu(), atol=atol, rtol=atol)

    def test_cuda_float32_precision(self):
        x, flow = torch.randn(1, 4, 16, 512, device="cuda"), smooth_flow(1, 16, 512, device="cuda")
        truth = flow_warp_reference(x.double(), flow.double())
        err = (flow_warp(x, flow, impl="cuda").double() - truth).abs().max().item()
        self.assertLess(err, 2e-6)

    def test_gradcheck_cuda(self):
        x = torch.randn(2, 3, 4, 35, dtype=torch.float64, device="cuda", requires_grad=True)
        flow = random_flow(2, 4, 35, torch.float64, device="cuda", scale=1.5).requires_grad_()
        kernel = lambda a, b: flow_warp(a, b, impl="cuda")  # noqa: E731
        self.assertTrue(gradcheck(kernel, (x, flow), eps=1e-6, atol=1e-5))

    def test_cuda_empty_and_non_contiguous(self):
        x = torch.randn(0, 3, 4, 5, device="cuda", requires_grad=True)
        flow = torch.randn(0, 2, 4, 5, device="cuda", requires_grad=True)
        flow_warp(x, flow, impl="cuda").sum().backward()
        self.assertEqual(x.grad.shape, x.shape)
        base = torch.randn(1, 8, 6, 40, device="cuda")
        flow = smooth_flow(1, 40, 6, device="cuda").transpose(2, 3)
        torch.testing.assert_close(
            flow_warp(base[:, ::2], flow, impl="cuda"),
            flow_warp(base[:, ::2].contiguous(), flow.contiguous(), impl="cuda"),
        )

    def test_cuda_device_errors(self):
        x = torch.randn(1, 3, 4, 5, device="cuda")
        with self.assertRaisesRegex(RuntimeError, "same device"):
            flow_warp(x, torch.randn(1, 2, 4, 5), impl="auto")
        with self.assertRaisesRegex(ValueError, "inputs are on cuda"):
            flow_warp(x, torch.randn(1, 2, 4, 5, device="cuda"), impl="cpu")

    def test_autocast_cuda(self):
        x = torch.randn(2, 16, 20, 30, device="cuda")
        flow = smooth_flow(2, 20, 30, device="cuda")
        expected = flow_warp(x.half().float(), flow, impl="cuda")
        with torch.autocast("cuda", dtype=torch.float16):
            out_mixed = flow_warp(x.half(), flow, impl="cuda")  # promoted to float32
            out_half = flow_warp(x.half(), flow.half(), impl="cuda")  # computed in float32
        self.assertEqual(out_mixed.dtype, torch.float32)
        self.assertEqual(out_half.dtype, torch.float16)
        torch.testing.assert_close(out_mixed, expected)
        self.assertTrue(torch.isfinite(out_half).all())
        torch.testing.assert_close(out_half.float(), expected, atol=0.05, rtol=0.01)


if __name__ == "__main__":
    unittest.main()
