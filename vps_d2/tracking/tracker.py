"""Online tracker: one-to-one assignment of detections to tracks with a short memory (SPEC §5)."""
import itertools
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .affinity import AffinityWeights, affinity_matrix

# A track must beat a detection's "new object" option by more than this to take it: exact ties (e.g.
# mask IoU 0 with the IoU cue alone, or the same class with the class cue alone) start a new track.
TIE_MARGIN = 1e-6


@dataclass
class Detections:
    """One frame's detections (or the tracks' state, same fields): N entries."""

    embeds: torch.Tensor  # (N, D)
    boxes: torch.Tensor  # (N, 4) XYXY
    classes: torch.Tensor  # (N,)
    scores: torch.Tensor  # (N,)
    masks: torch.Tensor  # (N, H, W) float in [0, 1]

    def __len__(self) -> int:
        return len(self.scores)

    def select(self, idx) -> "Detections":
        return Detections(*(getattr(self, f)[idx] for f in ("embeds", "boxes", "classes", "scores", "masks")))


@dataclass
class Track:
    track_id: int
    embed: torch.Tensor
    box: torch.Tensor
    category: int
    score: float
    mask: torch.Tensor
    last_seen: int  # frame index


@dataclass
class VideoTracker:
    """Assign a track id to every detection of every frame of one video.

    Each frame: affinities of detections to live tracks (:func:`affinity_matrix`), then one
    Hungarian assignment over [tracks | one private "new object" option per detection], so claims
    are one-to-one and a detection whose best option is "new" starts a track. Matched tracks take the
    detection's box, mask, class and an embedding moved by ``embed_momentum`` towards it. Unmatched
    tracks stay in memory for ``memory_frames`` frames, so an object that re-appears after a short
    occlusion gets its old id back; their masks are carried along by every frame's warp while they
    wait (not only by the last one). Ids are unbounded Python ints, starting at 1 per video.
    """

    weights: AffinityWeights = field(default_factory=AffinityWeights)
    metric: str = "cosine"
    temperature: float = 0.1
    memory_frames: int = 8
    embed_momentum: float = 0.0  # 0 = replace the embedding by the newest one
    tracks: List[Track] = field(default_factory=list)
    frame: int = -1
    _ids: "itertools.count" = field(default_factory=lambda: itertools.count(1))

    def reset(self) -> None:
        """Start a new video: empty memory, ids from 1."""
        self.tracks, self.frame, self._ids = [], -1, itertools.count(1)

    def _memory(self, warp: Optional[Callable[[torch.Tensor], torch.Tensor]]) -> Detections:
        masks = torch.stack([t.mask for t in self.tracks])
        return Detections(
            torch.stack([t.embed for t in self.tracks]),
            torch.stack([t.box for t in self.tracks]),
            torch.tensor([t.category for t in self.tracks], device=masks.device),
            torch.tensor([t.score for t in self.tracks], device=masks.device),
            warp(masks) if warp is not None else masks,
        )

    def update(self, det: Detections, warp: Optional[Callable[[torch.Tensor], torch.Tensor]] = None) -> List[int]:
        """Track one frame.

        Args:
            det: this frame's detections (masks at one fixed resolution for the whole video).
            warp: maps the previous frame's masks (M, H, W) onto this frame (e.g. a flow warp); None
                compares masks in place.

        Returns:
            the track id of each detection, in order.
        """
        self.frame += 1
        self.tracks = [t for t in self.tracks if self.frame - t.last_seen <= self.memory_frames]
        n = len(det)
        ids: List[int] = [0] * n
        if not self.tracks:  # first frame (or empty memory): ids by decreasing score
            for i in torch.argsort(det.scores, descending=True).tolist():
                ids[i] = self._start(det, i)
            return ids
        memory = self._memory(warp)
        for track, mask in zip(self.tracks, memory.masks):  # where a waiting track would be now
            track.mask = mask
        a, new = affinity_matrix(det, memory, self.weights, self.metric, self.temperature)
        m = a.shape[1]
        options = np.full((n, m + n), -np.inf)
        options[:, :m] = a.cpu().numpy() - TIE_MARGIN
        options[np.arange(n), m + np.arange(n)] = new.cpu().numpy()
        rows, cols = linear_sum_assignment(np.where(np.isfinite(options), options, -1e9), maximize=True)
        matched = {}
        for i, c in zip(rows.tolist(), cols.tolist()):
            if c < m:
                matched[i] = c
        for i in sorted(range(n), key=lambda k: -float(det.scores[k])):  # new ids by score
            ids[i] = self._follow(self.tracks[matched[i]], det, i) if i in matched else self._start(det, i)
        return ids

    def new_id(self) -> int:
        """A fresh id of this video that no track has had."""
        return next(self._ids)

    def _start(self, det: Detections, i: int) -> int:
        track = Track(self.new_id(), det.embeds[i], det.boxes[i], int(det.classes[i]), float(det.scores[i]),
                      det.masks[i], self.frame)
        self.tracks.append(track)
        return track.track_id

    def _follow(self, track: Track, det: Detections, i: int) -> int:
        mom = self.embed_momentum
        track.embed = det.embeds[i] if mom == 0 else mom * track.embed + (1 - mom) * det.embeds[i]
        track.box, track.mask, track.category = det.boxes[i], det.masks[i], int(det.classes[i])
        track.score, track.last_seen = float(det.scores[i]), self.frame
        return track.track_id
