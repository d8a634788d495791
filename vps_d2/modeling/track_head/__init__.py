"""Track heads: RoI embeddings that associate instances across frames (paper §V-C2, Eq. 3-4)."""

from . import contrastive, masktrack  # noqa: F401  (registration)
from .contrastive import ContrastiveTrackHead, contrastive_track_loss  # noqa: F401
from .embedding_head import EmbeddingTrackHead, track_labels  # noqa: F401
from .masktrack import MaskTrackHead, masktrack_loss  # noqa: F401
from .registry import TRACK_HEAD_REGISTRY, build_track_head  # noqa: F401
