"""Random small videos (ground truth + perturbed predictions) for the evaluation tests.

Classes: 0..2 stuff, 3..5 things (``ISTHING``). Ground truth: stuff bands, moving thing boxes with
ids kept through the video, void specks, sometimes a crowd box and a listed segment without
pixels. Prediction: the ground truth with other ids, then perturbed by shifted masks, id switches,
class flips (whole track or one frame), missed and spurious segments, and void pixels.
"""

import numpy as np

NUM_CLASSES = 6
ISTHING = [False, False, False, True, True, True]


def _segments(ids, info, extra=()):
    out = []
    labels, counts = np.unique(ids, return_counts=True)
    for i, n in zip(labels.tolist(), counts.tolist()):
        if i == 0:
            continue
        cat, crowd = info[i]
        out.append({"id": i, "category_id": cat, "iscrowd": crowd, "area": n})
    out.extend(extra)
    return out


def random_video(rng, num_frames=6, height=24, width=32, num_objects=4):
    """One video: a list of frame dicts (see ``reference_vpq``)."""
    H, W = height, width
    stuff_ids = {c: 100 + c for c in range(3)}
    bands = np.sort(rng.integers(1, H, size=2))
    objects = []
    for j in range(num_objects):
        h, w = rng.integers(3, H // 2), rng.integers(3, W // 2)
        objects.append(
            {
                "gt_id": 1000 + j,
                "cat": int(rng.integers(3, 6)),
                "y": int(rng.integers(0, H - h)),
                "x": int(rng.integers(0, W - w)),
                "h": int(h),
                "w": int(w),
                "vy": int(rng.integers(-2, 3)),
                "vx": int(rng.integers(-2, 3)),
                "crowd": int(rng.random() < 0.15),
            }
        )
    gt_class_change = (
        rng.random() < 0.2
    )  # a gt id whose class changes mid-video (released: first frame)
    frames = []
    for t in range(num_frames):
        gt = np.empty((H, W), np.int64)
        b0, b1 = bands
        gt[:b0] = stuff_ids[0]
        gt[b0:b1] = stuff_ids[1]
        gt[b1:] = stuff_ids[2]
        info = {v: (c, 0) for c, v in stuff_ids.items()}
        for o in objects:
            y = int(np.clip(o["y"] + o["vy"] * t, 0, H - 1))
            x = int(np.clip(o["x"] + o["vx"] * t, 0, W - 1))
            y1, x1 = y + o["h"], x + o["w"]
            gt[y:y1, x:x1] = o["gt_id"]
            cat = o["cat"]
            if gt_class_change and o is objects[0] and t >= num_frames // 2:
                cat = 3 + (cat - 2) % 3
            info[o["gt_id"]] = (cat, o["crowd"])
        gt[rng.random((H, W)) < 0.03] = 0
        extra = []
        if rng.random() < 0.1:
            extra.append({"id": 5000 + t, "category_id": 4, "iscrowd": 0, "area": 0})
        frames.append({"gt": gt, "gt_segments": _segments(gt, info, extra), "_info": info})

    # Prediction: relabel, then perturb.
    id_map = {
        i: 20000 + 7 * k for k, i in enumerate(sorted({i for f in frames for i in f["_info"]}))
    }
    switch_obj = objects[int(rng.integers(len(objects)))]["gt_id"] if rng.random() < 0.5 else None
    switch_t = int(rng.integers(1, num_frames)) if num_frames > 1 else 0
    flip_obj = objects[int(rng.integers(len(objects)))]["gt_id"] if rng.random() < 0.4 else None
    flip_one_frame = rng.random() < 0.5
    miss_obj = objects[int(rng.integers(len(objects)))]["gt_id"] if rng.random() < 0.3 else None
    shift = int(rng.integers(0, 4))
    next_id = 90000
    for t, f in enumerate(frames):
        gt = f["gt"]
        pred = np.zeros_like(gt)
        info = {}
        for i, (cat, _) in f["_info"].items():
            m = gt == i
            if i >= 1000 and shift and rng.random() < 0.5:
                m = np.roll(m, shift, axis=int(rng.integers(0, 2)))
            if i == miss_obj:
                continue
            pid = id_map[i]
            if i == switch_obj and t >= switch_t:
                pid += 1
            pcat = cat
            if i == flip_obj and (not flip_one_frame or t == num_frames - 1):
                pcat = 3 + (cat - 2) % 3 if cat >= 3 else (cat + 1) % 3
            pred[m] = pid
            info[pid] = pcat
        # stuff under void gt specks stays predicted; some void in the prediction
        holes = gt == 0
        pred[holes & (rng.random((H, W)) < 0.5)] = id_map[stuff_ids[2]]
        info.setdefault(id_map[stuff_ids[2]], 2)
        pred[rng.random((H, W)) < 0.02] = 0
        if rng.random() < 0.4:
            h, w = rng.integers(2, H // 2), rng.integers(2, W // 2)
            y, x = rng.integers(0, H - h), rng.integers(0, W - w)
            pred[y:][:h, x:][:, :w] = next_id
            info[next_id] = int(rng.integers(0, 6))
            next_id += 1
        present = set(np.unique(pred).tolist()) - {0}
        f["pred"] = pred
        f["pred_segments"] = [{"id": i, "category_id": info[i]} for i in sorted(present)]
        del f["_info"]
    return frames


def random_videos(seed, num_videos=3, **kw):
    rng = np.random.default_rng(seed)
    return [random_video(rng, num_frames=int(rng.integers(1, 7)), **kw) for _ in range(num_videos)]
