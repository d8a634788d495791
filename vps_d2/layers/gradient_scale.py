"""Identity in the forward pass, gradient multiplied by a constant in the backward pass."""
import torch

__all__ = ["scale_gradient"]


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad * ctx.scale, None


def scale_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """``x`` unchanged; the gradient flowing back through it is multiplied by ``scale`` (1: plain
    identity, 0: ``x.detach()``). Where no gradient is recorded (inference, ``torch.no_grad``, a
    frozen input) it is plain ``x``, so a traced or exported model holds no Python autograd op."""
    if scale == 1.0 or not (torch.is_grad_enabled() and x.requires_grad):
        return x
    if scale == 0.0:
        return x.detach()
    return _ScaleGradient.apply(x, scale)
