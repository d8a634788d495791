"""Online multi-object tracking for video panoptic inference (paper §V-D2; SPEC §5, §9)."""
from .affinity import AffinityWeights, affinity_matrix  # noqa: F401
from .tracker import Detections, VideoTracker  # noqa: F401
