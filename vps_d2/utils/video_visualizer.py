"""Draw video panoptic results: every segment coloured by its identity, so the same object keeps
the same colour through the whole video (detectron2's panoptic ``VideoVisualizer`` ignores track ids).
"""
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np


def track_color(category_color: Sequence[int], track_id: int) -> Tuple[int, int, int]:
    """A colour near the class colour, fixed by the track id (RGB)."""
    rng = np.random.default_rng(track_id)
    jitter = rng.integers(-70, 71, 3)
    return tuple(int(v) for v in np.clip(np.asarray(category_color) + jitter, 0, 255))


class VideoPanopticVisualizer:
    """Overlay an id map on a frame: class colours for stuff, per-track colours for things, segment
    boundaries, and a "class id" label on each thing."""

    def __init__(self, class_names: List[str], class_colors: List[Sequence[int]], alpha: float = 0.5):
        self.names = class_names
        self.colors = class_colors
        self.alpha = alpha

    def draw(self, frame_bgr: np.ndarray, ids: np.ndarray, segments: List[Dict]) -> np.ndarray:
        """Returns the BGR overlay of ``ids`` (H, W) with ``segments`` (segments_info) on the frame."""
        color = np.zeros_like(frame_bgr)
        drawn = np.zeros(ids.shape, bool)
        labels = []
        for seg in segments:
            mask = ids == seg["id"]
            rgb = self.colors[seg["category_id"]]
            if seg.get("track_id") is not None:
                rgb = track_color(rgb, seg["track_id"])
                ys, xs = np.nonzero(mask)
                if len(xs):
                    labels.append((f"{self.names[seg['category_id']]} {seg['track_id']}", int(xs.mean()), int(ys.mean())))
            color[mask] = rgb[::-1]
            drawn |= mask
        out = frame_bgr.copy()
        out[drawn] = (frame_bgr[drawn] * (1 - self.alpha) + color[drawn] * self.alpha).astype(np.uint8)
        edges = cv2.morphologyEx(ids.astype(np.int32).astype(np.float32), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
        out[edges] = (255, 255, 255)
        scale = max(0.3, frame_bgr.shape[0] / 700)
        for text, x, y in labels:
            cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
        return out
