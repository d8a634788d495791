"""Align-and-attend fuse head (paper §V-C1, Fig. 5, Eq. 2; SPEC §4, §9 "Align")."""
from typing import Sequence

import torch
import torch.nn.functional as F
from detectron2.config import configurable
from detectron2.utils.events import get_event_storage
from torch import nn

from ...layers import scale_gradient
from ...layers.flow_warp import FlowWarp
from .registry import FUSE_HEAD_REGISTRY


def _log_training(name: str, values: torch.Tensor, training: bool) -> None:
    """The mean of ``values`` in the training metrics (the learning curves of the fuse head)."""
    if training:
        try:
            get_event_storage().put_scalar(name, float(values.detach().mean()))
        except AssertionError:  # not inside a detectron2 trainer
            pass


def flow_epe_loss(refined: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean end-point error (cells of the map) of ``refined`` (N, 2, H, W) against ``target``,
    over the cells where the target is known (NaN elsewhere); 0 where none is."""
    known = torch.isfinite(target).all(dim=1)
    if not known.any():
        return refined.sum() * 0.0
    error = torch.linalg.vector_norm(refined - torch.nan_to_num(target), dim=1)
    return error[known].mean()


class AlignModule(nn.Module):
    """Refine the initial flow with a shallow flownet and warp the reference onto the target.

    The flownet sees [initial flow, f_t, f_ref] (2 + 2C = 514 channels for C = 256), has 3x3 convs of
    ``dims`` channels with LeakyReLU(0.1), and a last 3x3 conv to 2 channels whose output is a
    *residual* added to the initial flow (Fig. 8). The last conv starts at zero, so training starts
    from warping by the initial flow. The residual is bounded, ``limit · tanh(r / limit)`` cells of
    the 1/4 map: trained only through the downstream losses, an unbounded residual runs away (4 cells
    after 25 iterations, 27 after 150 at 128x256) until the warp samples unrelated places or outside
    the map and the reference is shut out (issue 22). ``limit`` <= 0 leaves it unbounded. The
    flownet also learns ``grad_scale`` times as fast as the rest (a learning-rate multiplier: with
    the bound alone its mean residual still reached 1 cell, 4x the initial DIS error, within 80
    iterations and the Attend gate fell from 0.85 to 0.70).
    """

    def __init__(self, channels: int, dims: Sequence[int], warp: nn.Module, residual_limit: float = 0.0,
                 grad_scale: float = 1.0):
        super().__init__()
        layers, in_dim = [], 2 + 2 * channels
        for dim in dims:
            layers += [nn.Conv2d(in_dim, dim, 3, padding=1), nn.LeakyReLU(0.1, inplace=True)]
            in_dim = dim
        for m in layers:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
                nn.init.zeros_(m.bias)
        self.residual = nn.Conv2d(in_dim, 2, 3, padding=1)
        nn.init.zeros_(self.residual.weight)
        nn.init.zeros_(self.residual.bias)
        self.flownet = nn.Sequential(*layers, self.residual)
        self.warp = warp
        self.residual_limit = float(residual_limit)
        self.grad_scale = float(grad_scale)

    def _residual(self, f_t: torch.Tensor, f_ref: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        residual = self.flownet(torch.cat([flow, f_t, f_ref], dim=1))
        if self.residual_limit > 0:
            residual = self.residual_limit * torch.tanh(residual / self.residual_limit)
        return residual

    def refine(self, f_t: torch.Tensor, f_ref: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """The refined flow target->reference (N, 2, H, W) in cells of the map."""
        return flow + self._residual(f_t, f_ref, flow)

    def forward(self, f_t: torch.Tensor, f_ref: torch.Tensor, flow: torch.Tensor):
        """Returns (f_ref warped onto the target, the refined flow). The downstream losses reach the
        flownet through the warp ``grad_scale`` times as strongly; the returned flow (for a flow
        loss) is the same values with the unscaled gradient."""
        residual = self._residual(f_t, f_ref, flow)
        _log_training("fuse/flow_residual_mean", residual.abs(), self.training)
        warped = self.warp(f_ref, flow + scale_gradient(residual, self.grad_scale))
        return warped, flow + residual


class AttendModule(nn.Module):
    """Eq. 2: tAtt = σ(ε(f_t) · ε(f_{ref→t})), a per-pixel similarity over channels of 3x3 embeddings
    ε (shared by both inputs); the aligned reference is weighted by tAtt, stacked with f_t along time
    (N, C, 2, H, W) and a 2x3x3 convolution reduces time to one map, g_t.

    Deviation from Eq. 2: the raw inner product of two C-channel
    embeddings is O(C · feature²) (std ≈ 360 at init for C = 64), so σ of it is 1 on every pixel and
    passes no gradient to ε: the gate would be a constant. We use the cosine of the two embeddings,
    which is bounded, with a learned scale and offset: tAtt = σ(a · cos(ε(f_t), ε(f_ref→t)) + b),
    a = ``GATE_SCALE_INIT`` (5), b = ``GATE_BIAS_INIT`` (-2.5) at init, so the gate starts at 0.5 for
    a cosine of 0.5, ≈ 0.92 for identical features and ≈ 0.08 for unrelated ones.

    The temporal convolution starts at zero, so a fresh head returns g_t = 0 and the image-level
    model it is added to (a Base detector imported by every variant, §V-D1) is unchanged at the
    start; the zero weights still receive gradients, and the rest of the head learns from there.
    """

    GATE_SCALE_INIT = 5.0
    GATE_BIAS_INIT = -2.5

    def __init__(self, channels: int, attend: bool = True):
        super().__init__()
        self.embed = nn.Conv2d(channels, channels, 3, padding=1) if attend else None
        self.temporal = nn.Conv3d(channels, channels, kernel_size=(2, 3, 3), padding=(0, 1, 1))
        if self.embed is not None:
            nn.init.kaiming_normal_(self.embed.weight, nonlinearity="linear")
            nn.init.zeros_(self.embed.bias)
        nn.init.zeros_(self.temporal.weight)
        nn.init.zeros_(self.temporal.bias)
        if attend:
            self.gate_scale = nn.Parameter(torch.tensor(self.GATE_SCALE_INIT))
            self.gate_bias = nn.Parameter(torch.tensor(self.GATE_BIAS_INIT))

    def attention(self, f_t: torch.Tensor, f_aligned: torch.Tensor) -> torch.Tensor:
        """tAtt of Eq. 2 (with the cosine, see the class docstring), (N, 1, H, W) in (0, 1)."""
        cos = F.cosine_similarity(self.embed(f_t), self.embed(f_aligned), dim=1, eps=1e-6)[:, None]
        return torch.sigmoid(self.gate_scale * cos + self.gate_bias)

    def forward(self, f_t: torch.Tensor, f_aligned: torch.Tensor) -> torch.Tensor:
        weighted = f_aligned
        if self.embed is not None:
            gate = self.attention(f_t, f_aligned)
            _log_training("fuse/gate_mean", gate, self.training)
            weighted = gate * f_aligned
        return self.temporal(torch.stack([f_t, weighted], dim=2)).squeeze(2)


@FUSE_HEAD_REGISTRY.register()
class AlignAttendFuse(nn.Module):
    """g_t = attend(f_t, align(f_t, f_ref, flow)); Table II's "Align" / "Attend" rows switch one off."""

    @configurable
    def __init__(self, channels: int, *, flownet_dims: Sequence[int], align: bool, attend: bool, warp_impl: str,
                 flow_residual_limit: float = 0.0, flownet_grad_scale: float = 1.0):
        super().__init__()
        self.align = (AlignModule(channels, flownet_dims, FlowWarp(impl=warp_impl), flow_residual_limit,
                                  flownet_grad_scale) if align else None)
        self.attend = AttendModule(channels, attend)

    @classmethod
    def from_config(cls, cfg, channels):
        return {
            "channels": channels,
            "flownet_dims": list(cfg.MODEL.FUSE.FLOWNET_DIMS),
            "align": cfg.MODEL.FUSE.ALIGN_ON,
            "attend": cfg.MODEL.FUSE.ATTEND_ON,
            "warp_impl": cfg.MODEL.FLOW.WARP_IMPL,
            "flow_residual_limit": cfg.MODEL.FUSE.FLOW_RESIDUAL_LIMIT,
            "flownet_grad_scale": cfg.MODEL.FUSE.FLOWNET_GRAD_SCALE,
        }

    def forward(self, f_t: torch.Tensor, f_ref: torch.Tensor, flow: torch.Tensor, return_flow: bool = False):
        """g_t; with ``return_flow`` also the refined flow (None without the Align module)."""
        aligned, refined = (f_ref, None) if self.align is None else self.align(f_t, f_ref, flow)
        g = self.attend(f_t, aligned)
        return (g, refined) if return_flow else g
