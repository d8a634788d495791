"""Pictures of a video dataset (``tools/visualize_data.py``): the ground truth of each annotated
frame, or the training pairs the mapper makes of a video after augmentation. Segments are coloured
by class, a thing keeps its colour through the video (its colour comes from its segment id, which
is stable within a video) and its class and id are written on it."""
import os
from typing import Dict, Iterator, List, Tuple

import cv2
import numpy as np

from ..data.dataset_mapper import read_frame, read_segments
from .video_visualizer import VideoPanopticVisualizer

__all__ = ["annotation_frames", "training_pairs"]


def _segments(segments_info: List[Dict]) -> List[Dict]:
    return [{"id": s["id"], "category_id": s["category_id"], "track_id": s["id"] if s["isthing"] else None}
            for s in segments_info]


def annotation_frames(video: Dict, visualizer: VideoPanopticVisualizer) -> Iterator[Tuple[str, np.ndarray]]:
    """(frame name, BGR overlay) of each annotated frame of a video dataset dict."""
    for i, annotated in enumerate(video["annotated"]):
        if not annotated:
            continue
        ids = read_segments(video["pan_seg_file_names"][i], video["segments_infos"][i])
        frame = read_frame(video["file_names"][i], "BGR")
        name = os.path.splitext(os.path.basename(video["file_names"][i]))[0]
        yield name, visualizer.draw(frame, ids, _segments(video["segments_infos"][i]))


def _target_ids(frame: Dict) -> Tuple[np.ndarray, List[Dict]]:
    """A mapper frame's targets as an id map and segments: stuff from ``sem_seg``, instances from
    their masks with ``gt_ids`` as track ids."""
    sem = frame["sem_seg"].numpy()
    inst = frame["instances"]
    ids = np.zeros(sem.shape, np.int64)
    segments = []
    for c in np.unique(sem[sem != 255]).tolist():
        ids[sem == c] = c + 1
        segments.append({"id": c + 1, "category_id": c, "track_id": None})
    masks = inst.gt_masks.tensor.numpy() if inst.has("gt_masks") else np.zeros((0, *sem.shape), bool)
    for mask, gt_id in zip(masks, inst.gt_ids.tolist()):
        category = int(np.bincount(sem[mask]).argmax())
        ids[mask] = 1_000_000 + gt_id
        segments.append({"id": 1_000_000 + gt_id, "category_id": category, "track_id": gt_id})
    return ids, [s for s in segments if (ids == s["id"]).any()]


def training_pairs(mapper, video: Dict, count: int, visualizer: VideoPanopticVisualizer) -> Iterator[Tuple[str, np.ndarray]]:
    """``count`` training samples of a video (target | reference side by side, BGR, labelled with
    their frame indices), as the mapper makes them (sampling and augmentation included)."""
    for k in range(count):
        sample = mapper(video)
        tiles = []
        for role, frame in zip(("target", "reference"), sample["frames"]):
            image = frame["image"].permute(1, 2, 0).numpy()
            image = np.ascontiguousarray(image[:, :, ::-1] if mapper.image_format == "RGB" else image)
            tile = visualizer.draw(image, *_target_ids(frame))
            cv2.putText(tile, f"{role} {frame['frame_index']}", (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
            tiles.append(tile)
        h = max(t.shape[0] for t in tiles)
        tiles = [cv2.copyMakeBorder(t, 0, h - t.shape[0], 0, 4, cv2.BORDER_CONSTANT) for t in tiles]
        yield f"sample_{k:03d}", np.concatenate(tiles, axis=1)
