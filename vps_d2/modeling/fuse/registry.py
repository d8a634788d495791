from detectron2.utils.registry import Registry

from ...utils.errors import UserError

FUSE_HEAD_REGISTRY = Registry("FUSE_HEAD")
FUSE_HEAD_REGISTRY.__doc__ = """
Fuse heads, selected by ``MODEL.FUSE.NAME``. The registered object is called with
``obj(cfg, channels)`` and returns an ``nn.Module`` whose ``forward(f_t, f_ref, flow)`` takes the
gathered 1/4-resolution maps of the target and the reference (N, C, H, W) and the initial flow
target->reference (N, 2, H, W) in pixels, and returns g_t (N, C, H, W), added back to the target's
pyramid. A head that returns zeros leaves the image-level model unchanged.
"""


def build_fuse_head(cfg, channels: int):
    name = cfg.MODEL.FUSE.NAME
    if name not in FUSE_HEAD_REGISTRY:
        raise UserError(
            f"MODEL.FUSE.NAME: unknown fuse head '{name}', "
            f"expected one of {sorted(FUSE_HEAD_REGISTRY._obj_map)}"
        )
    return FUSE_HEAD_REGISTRY.get(name)(cfg, channels)
