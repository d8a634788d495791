from detectron2.layers import ShapeSpec
from detectron2.utils.registry import Registry

from ...utils.errors import UserError

TRACK_HEAD_REGISTRY = Registry("TRACK_HEAD")
TRACK_HEAD_REGISTRY.__doc__ = """
Track heads (paper §V-C2), selected by ``MODEL.TRACK_HEAD.NAME``. The registered object is called
with ``obj(cfg, input_shape)``, where ``input_shape`` is the ``ShapeSpec`` of the pooled RoI
features (C, R, R), and returns an :class:`EmbeddingTrackHead`: ``forward(x)`` maps RoI features
(N, C, R, R) to embeddings (N, MODEL.TRACK_HEAD.FC_DIM), ``similarity(x, ref)`` is the score the
head was trained with (dot product or cosine / temperature) and ``losses(embeds, ref_embeds,
labels)`` returns ``{"loss_track": ...}``.
"""


def build_track_head(cfg, input_shape: ShapeSpec):
    name = cfg.MODEL.TRACK_HEAD.NAME
    if name not in TRACK_HEAD_REGISTRY:
        raise UserError(
            f"MODEL.TRACK_HEAD.NAME: unknown track head '{name}', "
            f"expected one of {sorted(TRACK_HEAD_REGISTRY._obj_map)}"
        )
    return TRACK_HEAD_REGISTRY.get(name)(cfg, input_shape)
