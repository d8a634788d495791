"""A prepared synthetic split as :class:`~.scenarios.ScenarioVideo` s (``diagnose_temporal.py --root``).

The images the model sees, the ground-truth flow and each frame's degradations are read from the
split on disk (written by ``datasets/prepare_synthetic_vps.py --flow``). The split stores labels of
the annotated frames only and no clean renderings, so both are rendered again from the split's
generator stamp (each video replays its own seeded generator in frame order, as
:func:`~vps_d2.data.synthetic.write_synthetic_split` did); every replayed image is checked byte for
byte against the disk's, so the labels and clean renderings are those of the very files scored.
"""
import os
from typing import List, Optional

import numpy as np
from tqdm import tqdm

from ..data.converters.common import read_json
from ..data.dataset_mapper import read_frame
from ..data.datasets.cityscapes_vps import FRAME_ID_BASE, split_paths
from ..data.synthetic import GENERATOR_NAME, GENERATOR_VERSION, build_video, flow_path
from ..data.synthetic_scene import render_frame
from ..utils.errors import UserError
from .scenarios import STRIDE, ScenarioVideo


def _stamp(root: str, split: str) -> dict:
    path = split_paths(root, split)["all_info_json"]
    info = read_json(path, "im_all_info of a split written by datasets/prepare_synthetic_vps.py --flow")
    stamp = info.get("generator") if isinstance(info, dict) else None
    if not isinstance(stamp, dict) or stamp.get("name") != GENERATOR_NAME or stamp.get("version") != GENERATOR_VERSION:
        raise UserError(f"{path}: 'generator' is {stamp!r}, expected a split of {GENERATOR_NAME} version "
                        f"{GENERATOR_VERSION} (regenerate it with datasets/prepare_synthetic_vps.py --flow)")
    if not stamp.get("flow"):
        raise UserError(f"{path}: the split was written without ground-truth flow; regenerate it with "
                        f"datasets/prepare_synthetic_vps.py ... --flow")
    if stamp.get("stride") != STRIDE:
        raise UserError(f"{path}: the split is annotated every {stamp.get('stride')} frames, the diagnostics "
                        f"measure at the annotation gap {STRIDE} (prepare_synthetic_vps.py --stride {STRIDE})")
    return dict(stamp, images=info["images"])


def _read_flow(path: str) -> np.ndarray:
    if not os.path.isfile(path):
        raise UserError(f"{path}: the ground-truth flow is missing; regenerate the split with "
                        f"datasets/prepare_synthetic_vps.py ... --flow")
    return np.load(path)


def load_split_videos(root: str, split: str, videos: Optional[int] = None) -> List[ScenarioVideo]:
    """The first ``videos`` videos (all when None) of the prepared split ``root``/``split``."""
    stamp = _stamp(root, split)
    count = stamp["videos"] if videos is None else min(videos, stamp["videos"])
    image_root = split_paths(root, split)["image_root"]
    by_frame = {im["id"]: im for im in stamp["images"]}
    out = []
    for v in tqdm(range(1, count + 1), desc=f"{split}: reading and replaying videos", unit="video"):
        scene, rng, hard = build_video(stamp["seed"], split, v, stamp["height"], stamp["width"], stamp["frames"],
                                       stamp["stride"], stamp.get("difficulty", "clean"))
        video = ScenarioVideo(f"{split}_{v:06d}")
        for f in range(1, stamp["frames"] + 1):
            im = by_frame[v * FRAME_ID_BASE + f]
            clean, label, _ = render_frame(scene, f - 1, rng)
            replayed = hard.apply(f, clean)[0] if hard is not None else clean
            path = os.path.join(image_root, im["file_name"])
            image = read_frame(path, "RGB")
            if not np.array_equal(image, replayed):
                raise UserError(f"{path}: differs from the generator's rendering of it (edited, or written by "
                                f"another build); regenerate the split with datasets/prepare_synthetic_vps.py")
            video.images.append(image)
            video.clean.append(clean)
            video.labels.append(label)
            video.flows.append(_read_flow(flow_path(root, split, im["file_name"])) if f > 1 else None)
            video.effects.append(list(im.get("effects", [])))
        out.append(video)
    return out
