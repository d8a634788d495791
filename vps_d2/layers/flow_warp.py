"""Flow warp: bilinear backward warping of feature maps by a dense optical flow.

Semantics (the one definition shared by every implementation)::

    out = flow_warp(x, flow)

* ``x``: (N, C, H, W) features; ``flow``: (N, 2, H, W) in **pixels** of ``x``, channel 0 = dx
  (along W), channel 1 = dy (along H).
* ``out[n, c, y, x]`` is the bilinear sample of ``x[n, c]`` at the continuous position
  ``(x + flow[n, 0, y, x], y + flow[n, 1, y, x])``, where integer positions are pixel centres.
* Each of the four bilinear corners that falls outside the image reads 0 (per-corner zero padding),
  so a sample fully outside the image is 0 and one half a pixel outside is half-weighted.
* A zero flow is exactly the identity (no ``align_corners`` shift: the original VPSNet's
  ``WarpingLayer`` built an ``align_corners=True`` grid and then called ``grid_sample`` with the
  ``align_corners=False`` default, so its zero flow moved features by up to half a pixel).

This is ``F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)`` with
``grid`` the normalised ``(x + dx, y + dy)``; :func:`flow_warp_reference` is exactly that and
defines the behaviour. Gradients follow grid_sample's convention (corner = floor of the position, so
at an integer position the derivative with respect to the flow is the right/down difference).

Implementations (``impl``, from ``cfg.MODEL.FLOW.WARP_IMPL``):

* ``"auto"``: the compiled kernel of ``vps_d2._C`` for the inputs' device (CPU or CUDA); when that
  kernel is not built, the PyTorch reference, with one warning per process and device type.
* ``"cpu"`` / ``"cuda"``: that compiled kernel; a clear error if it is not built or if the inputs
  are on another device.
* ``"pytorch"``: always the reference.

Precision: the kernels take the sample's cell and fraction from the flow itself (x + floor(dx) and
dx - floor(dx), both exact), so in float32 they stay within ~1e-6 of the float64 result, while
grid_sample's renormalised coordinate loses up to ulp(W) of the fraction (errors ~1e-4 at W = 512).
Compare float32 kernel and reference with a tolerance of that order. The CUDA backward adds into
grad_x with atomics, so its float32 grad_x may differ in the last bits between runs (as
grid_sample's does).

Dtypes: the kernels run in float32 and float64. float16 / bfloat16 inputs are computed in float32
and the result is cast back. ``x`` and ``flow`` must have the same dtype, except under
``torch.autocast``, where they are promoted to the wider one (grid_sample's autocast policy), so
half features with a float32 flow give a float32 output.
"""
import logging
from typing import Set, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from . import extension as _ext
from ..utils.errors import UserError

__all__ = [
    "WARP_IMPLS",
    "FlowWarp",
    "cpu_kernel_available",
    "cuda_kernel_available",
    "flow_warp",
    "flow_warp_reference",
]

logger = logging.getLogger(__name__)

WARP_IMPLS = ("auto", "cpu", "cuda", "pytorch")

# Device types for which "auto" has already warned that it falls back to the reference.
_warned_fallback: Set[str] = set()


def _ops_registered() -> bool:
    """Whether ``vps_d2._C`` imported and registers the flow warp ops."""
    if not _ext.has_extension():
        return False
    try:
        torch.ops.vps_d2.flow_warp_forward
    except (AttributeError, RuntimeError):  # an extension built before this op existed
        return False
    return True


# Whether the extension (with the flow warp ops) imported; for tests' skipIf.
_HAS_EXT = _ops_registered()


def cpu_kernel_available() -> bool:
    """Whether the compiled CPU kernel can be used."""
    return _ops_registered()


def cuda_kernel_available() -> bool:
    """Whether the extension was built with its CUDA kernel (a GPU is a separate question)."""
    return _ops_registered() and bool(torch.ops.vps_d2.has_cuda())


def _why_not_built(kind: str) -> str:
    info = _ext.extension_info()
    if not info.get("built"):
        return f"vps_d2._C did not import ({info.get('error')})"
    if not _ops_registered():
        return "vps_d2._C has no flow warp ops (it was built from older sources)"
    return f"vps_d2._C was built without {kind.upper()} kernels"


def _not_built_message(impl: str) -> str:
    return (
        f"flow_warp: WARP_IMPL={impl!r} needs the compiled {impl.upper()} kernel, but "
        f"{_why_not_built(impl)}. Rebuild it (`make setup`, or `python setup.py build_ext "
        "--inplace`; for CUDA on a host without a GPU add FORCE_CUDA=1 CUDA_HOME=...), or set "
        "MODEL.FLOW.WARP_IMPL to 'auto' or 'pytorch'."
    )


def _check_impl(impl: str) -> None:
    if impl not in WARP_IMPLS:
        raise UserError(f"flow_warp: impl must be one of {WARP_IMPLS} (MODEL.FLOW.WARP_IMPL), got {impl!r}")


def _check_inputs(x: torch.Tensor, flow: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not isinstance(flow, torch.Tensor):
        raise TypeError(
            f"flow_warp: x and flow must be tensors, got {type(x).__name__} and "
            f"{type(flow).__name__}"
        )
    if x.dim() != 4:
        raise ValueError(
            f"flow_warp: x must be a 4-D tensor (N, C, H, W), got shape {tuple(x.shape)}"
        )
    if flow.dim() != 4 or flow.shape[1] != 2:
        raise ValueError(
            "flow_warp: flow must be a 4-D tensor (N, 2, H, W) with channels (dx, dy), got shape "
            f"{tuple(flow.shape)}"
        )
    if flow.shape[0] != x.shape[0] or flow.shape[2:] != x.shape[2:]:
        raise ValueError(
            "flow_warp: flow (N, 2, H, W) must match x (N, C, H, W) in N, H and W; got x "
            f"{tuple(x.shape)} and flow {tuple(flow.shape)}"
        )
    if not x.is_floating_point() or not flow.is_floating_point():
        raise TypeError(
            f"flow_warp: x and flow must be floating point, got {x.dtype} and {flow.dtype}"
        )
    if x.device != flow.device:
        raise RuntimeError(
            f"flow_warp: x and flow must be on the same device, got {x.device} and {flow.device}"
        )


def _autocast_enabled(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except (TypeError, RuntimeError):  # a device type without autocast support
        return False


def _cast_inputs(
    x: torch.Tensor, flow: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor, torch.dtype]:
    """(x, flow) in the dtype the kernels compute in, and the dtype of the result."""
    if x.dtype != flow.dtype:
        if not _autocast_enabled(x.device.type):
            raise TypeError(
                f"flow_warp: x and flow must have the same dtype, got {x.dtype} and {flow.dtype} "
                "(mixed dtypes are promoted only under torch.autocast)"
            )
    out_dtype = torch.promote_types(x.dtype, flow.dtype)
    compute = torch.float32 if out_dtype in (torch.float16, torch.bfloat16) else out_dtype
    return x.to(compute), flow.to(compute), out_dtype


def _use_kernel(impl: str, device: torch.device) -> bool:
    """True for the compiled kernel, False for the PyTorch reference; raises for impossible
    explicit choices."""
    if impl == "pytorch":
        return False
    if impl in ("cpu", "cuda"):
        available = cpu_kernel_available() if impl == "cpu" else cuda_kernel_available()
        if not available:
            raise RuntimeError(_not_built_message(impl))
        if device.type != impl:
            raise ValueError(
                f"flow_warp: WARP_IMPL={impl!r} runs the compiled {impl.upper()} kernel, but the "
                f"inputs are on {device}; use 'auto' (kernel of the inputs' device) or 'pytorch'"
            )
        return True
    # "auto"
    if device.type == "cpu" and cpu_kernel_available():
        return True
    if device.type == "cuda" and cuda_kernel_available():
        return True
    if device.type not in _warned_fallback:
        _warned_fallback.add(device.type)
        if device.type in ("cpu", "cuda"):
            why = _why_not_built(device.type)
        else:
            why = f"there is no compiled kernel for {device.type} tensors"
        logger.warning(
            "flow_warp: WARP_IMPL='auto' falls back to the PyTorch reference (grid_sample) "
            "for %s tensors: %s. Results are the same, only slower.",
            device.type,
            why,
        )
    return False


class _FlowWarpFunction(Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, flow)
        return torch.ops.vps_d2.flow_warp_forward(x, flow)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        x, flow = ctx.saved_tensors
        need_x, need_flow = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if not (need_x or need_flow):
            return None, None
        grad_x, grad_flow = torch.ops.vps_d2.flow_warp_backward(
            grad_out, x, flow, need_x, need_flow
        )
        return grad_x, grad_flow


def flow_warp_reference(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """The pure-PyTorch definition of :func:`flow_warp` (``grid_sample``, ``align_corners=True``).

    Args:
        x (Tensor): (N, C, H, W).
        flow (Tensor): (N, 2, H, W), in pixels, channel 0 = dx, channel 1 = dy; same dtype and
            device as ``x``.

    Returns:
        Tensor: (N, C, H, W), ``x`` sampled bilinearly at ``(x + dx, y + dy)``, with out-of-image
        corners reading 0.
    """
    _check_inputs(x, flow)
    if x.dtype != flow.dtype:
        raise TypeError(
            f"flow_warp_reference: x and flow must have the same dtype, got {x.dtype} and "
            f"{flow.dtype}"
        )
    n, c, h, w = x.shape
    if x.numel() == 0 or flow.numel() == 0:
        # Nothing to sample; keep both inputs in the graph so that backward gives zeros.
        return x * 0 + flow[:, :1].sum() * 0
    # With align_corners=True, grid_sample maps pixel coordinate p of a size-s axis to
    # 2 p / (s - 1) - 1 (so -1 and +1 are the centres of the first and last pixels). That is
    # undefined for s = 1: such an axis gets one zero row / column appended, which leaves every
    # position unchanged and reads 0 exactly like an out-of-image corner.
    pad_w, pad_h = int(w == 1), int(h == 1)
    if pad_w or pad_h:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    grid_x = (xs + flow[:, 0]) * (2.0 / (w + pad_w - 1)) - 1.0
    grid_y = (ys + flow[:, 1]) * (2.0 / (h + pad_h - 1)) - 1.0
    grid = torch.stack((grid_x, grid_y), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def flow_warp(x: torch.Tensor, flow: torch.Tensor, impl: str = "auto") -> torch.Tensor:
    """Warps ``x`` by ``flow`` (see the module docstring for the exact semantics).

    Args:
        x (Tensor): (N, C, H, W) features.
        flow (Tensor): (N, 2, H, W) flow in pixels, channel 0 = dx, channel 1 = dy, on the device
            of ``x``.
        impl (str): one of ``"auto" | "cpu" | "cuda" | "pytorch"`` (``MODEL.FLOW.WARP_IMPL``).

    Returns:
        Tensor: (N, C, H, W) warped features; differentiable with respect to ``x`` and ``flow``.
    """
    _check_impl(impl)
    _check_inputs(x, flow)
    x, flow, out_dtype = _cast_inputs(x, flow)
    if _use_kernel(impl, x.device):
        out = _FlowWarpFunction.apply(x, flow)
    else:
        out = flow_warp_reference(x, flow)
    return out if out.dtype == out_dtype else out.to(out_dtype)


class FlowWarp(nn.Module):
    """Module form of :func:`flow_warp`.

    Args:
        impl (str): ``"auto" | "cpu" | "cuda" | "pytorch"``; build it from a config with
            :meth:`from_config` (``cfg.MODEL.FLOW.WARP_IMPL``).
    """

    def __init__(self, impl: str = "auto"):
        super().__init__()
        _check_impl(impl)
        self.impl = impl

    @classmethod
    def from_config(cls, cfg) -> "FlowWarp":
        return cls(impl=cfg.MODEL.FLOW.WARP_IMPL)

    def forward(self, x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """x (N, C, H, W), flow (N, 2, H, W) in pixels (dx, dy) -> (N, C, H, W)."""
        return flow_warp(x, flow, impl=self.impl)

    def extra_repr(self) -> str:
        return f"impl={self.impl!r}"
