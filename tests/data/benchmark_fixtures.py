"""Tiny releases of KITTI-STEP and VIPSeg in their official layouts, written for the converter and
eval-only tests."""
import os

import numpy as np
from PIL import Image

from vps_d2.evaluation.step_io import write_step_png

H, W = 6, 10


def write_kitti_step_release(root):
    """Sequence 0002 (val), 3 frames of HxW: road, a car (instance 1) moving right, a person crowd
    (instance 0), a second car from frame 1 on, void. Returns (step dir, images dir, per frame the
    (class or -1, car instance or 0) label of each pixel)."""
    labels = []
    for t in range(3):
        sem = np.zeros((H, W), np.int64)  # road
        inst = np.zeros((H, W), np.int64)
        sem[0] = 255
        sem[2:4, t:t + 3], inst[2:4, t:t + 3] = 13, 1
        sem[4:, 7:], inst[4:, 7:] = 11, 0  # crowd
        if t:
            sem[5, :2], inst[5, :2] = 13, 300
        write_step_png(os.path.join(root, "step", "panoptic_maps", "val", "0002", f"{t:06d}.png"),
                       sem, inst)
        frame = os.path.join(root, "kitti", "training", "image_02", "0002", f"{t:06d}.png")
        os.makedirs(os.path.dirname(frame), exist_ok=True)
        Image.fromarray(np.full((H, W, 3), 40 * t, np.uint8)).save(frame)
        labels.append(np.stack([np.where(sem == 255, -1, sem), np.where(sem == 13, inst, 0)], -1))
    return os.path.join(root, "step"), os.path.join(root, "kitti"), labels


def write_vipseg_release(root):
    """Videos 'v_a' (val) and 'v_b' (train), 2 frames of 36x48 each: wall (raw 1), a door (class 2:
    raw 300) moving, a door without instance (raw 3), void (0). Returns the raw masks of v_a."""
    raw = []
    for video, split in (("v_a", "val"), ("v_b", "train")):
        for t in range(2):
            mask = np.ones((36, 48), np.uint16)
            mask[:4] = 0
            mask[10:20, 5 + 10 * t:15 + 10 * t] = 300
            mask[30:, 40:] = 3
            for folder, name, arr in (("panomasks", f"{t:05d}.png", mask),
                                      ("imgs", f"{t:05d}.jpg", np.full((36, 48, 3), 90, np.uint8))):
                path = os.path.join(root, folder, video, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                Image.fromarray(arr).save(path)
            if split == "val":
                raw.append(mask)
        with open(os.path.join(root, f"{split}.txt"), "a") as f:
            f.write(video + "\n")
    return raw
