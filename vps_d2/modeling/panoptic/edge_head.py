"""Panoptic edge learning, L_pan_edge of Eq. 5 (paper §V-C3; SPEC §4, §9 "Eq. 5 input"). Training only.

Target S_t: the Laplacian of the panoptic id map, thresholded at 0 in magnitude. A plain Laplacian
(4·x − Σ neighbours) of *ids* can cancel (ids 1 | 2 | 3 in a row give 0 at the middle pixel although
it borders two segments), so we take the Laplacian of the absolute differences, Σ_n |x − x_n| over the
4-neighbours, which is > 0 exactly when a neighbour has another id. Borders are replicated (the image
border is no edge); both pixels on either side of a boundary are edge pixels; void/ignore (-1) and
padding count as a segment of their own.

Input U_edge (fixed channel count S + 2, since the number of instances varies):
[stuff semantic logits (S), max over the pasted thing mask logits (1), the semantic logit of each
pixel's best thing class, max over thing channels (1)]. The paper pads each instance's mask logit
with 0 outside its box; since we take the max over instances, "no instance here" must be low rather
than 0 (which means p = 0.5), so the max is clamped from below at ``EDGE_NO_THING_LOGIT`` (-10,
sigmoid ≈ 5e-5), which is also the value with no instance (K = 0) or no thing class (T = 0).

Head: 3x3 conv → 16, ReLU, 3x3 conv → 16, ReLU, 3x3 conv → 1, sigmoid (Kaiming init, §V-D1).

Dice (exact form): 1 − (2·Σ p·t + ε) / (Σ p² + Σ t² + ε), ε = 1e-6: 0 for a perfect binary prediction,
≈ 1 for disjoint prediction and target, 0 when both are empty.
"""
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EDGE_NO_THING_LOGIT", "edge_target", "edge_input", "EdgeHead", "dice_loss"]

# Value of the thing channels of U_edge where no instance / thing class says anything.
EDGE_NO_THING_LOGIT = -10.0


def edge_target(id_map: torch.Tensor) -> torch.Tensor:
    """Edge map S_t (h, w) float in {0, 1} of a panoptic id map (h, w) (any integer ids)."""
    x = id_map.to(torch.float64)[None, None]  # float64: exact for any int id below 2**53
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    c = p[..., 1:-1, 1:-1]
    lap = (c - p[..., :-2, 1:-1]).abs() + (c - p[..., 2:, 1:-1]).abs()
    lap = lap + (c - p[..., 1:-1, :-2]).abs() + (c - p[..., 1:-1, 2:]).abs()
    return (lap[0, 0] > 0).float()


def edge_input(
    sem_logits: torch.Tensor,
    stuff_channels: torch.Tensor,
    thing_channels: torch.Tensor,
    pasted_mask_logits: torch.Tensor,
) -> torch.Tensor:
    """U_edge (S + 2, h, w) of one image; see the module doc for the channel layout.

    Args:
        sem_logits: (C, h, w); stuff_channels: (S,); thing_channels: (T,) semantic channel of each
            detector class; pasted_mask_logits: (K, h, w) from :func:`panoptic_logits`.
    """
    device = sem_logits.device
    h, w = sem_logits.shape[-2:]
    stuff = sem_logits[stuff_channels.to(device)]
    low = sem_logits.new_full((1, h, w), EDGE_NO_THING_LOGIT)
    if pasted_mask_logits.shape[0] > 0:
        masks = pasted_mask_logits.to(sem_logits.dtype).amax(dim=0, keepdim=True).clamp(min=EDGE_NO_THING_LOGIT)
    else:
        masks = low
    best_thing = sem_logits[thing_channels.to(device)].amax(dim=0, keepdim=True) if len(thing_channels) else low
    return torch.cat([stuff, masks, best_thing], dim=0)


class EdgeHead(nn.Module):
    """f_edge of Eq. 5: (N, in_channels, h, w) -> edge probability σ(f_edge) (N, 1, h, w)."""

    def __init__(self, in_channels: int, conv_dim: int = 16):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(in_channels, conv_dim, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(conv_dim, conv_dim, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(conv_dim, 1, 3, padding=1),
        )
        for m in self.convs:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.convs(x))


def dice_loss(prob: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """1 − (2·Σ p·t + ε) / (Σ p² + Σ t² + ε) over all elements (float32)."""
    p, t = prob.float().flatten(), target.float().flatten()
    return 1 - (2 * (p * t).sum() + eps) / ((p * p).sum() + (t * t).sum() + eps)
