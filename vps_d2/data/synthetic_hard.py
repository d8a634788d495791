"""The hard synthetic split (``--difficulty hard``): the clean scenes plus what real driving video
has and what each VPSNet++ component claims to fix.

=====================  ===========================================================  =====================
effect                 what                                                         component it targets
=====================  ===========================================================  =====================
``motion_blur``        one frame blurred along a line of 7-15 px at a random angle  temporal fusion
``noise_burst``        one frame with strong Gaussian noise (sigma 25-40)           temporal fusion
``exposure_flicker``   one frame at gain 0.35-0.55 or 1.7-2.2 (clipped)             temporal fusion
``transient_occluder`` one frame with an opaque dirt smear over 10-25 % of it       temporal fusion
look-alike pair        two objects of one class and colour, at almost one depth,    association (track
                       moving in opposite directions, crossing mid-video            head, matching)
hidden object          an object vanishes for 2-6 frames and returns with its id    tracker memory
thin pole              extra poles 2-3 px wide (at 128 px high), some with a sign   Pan-Edge
=====================  ===========================================================  =====================

Degradations change the image only: the labels stay what is behind them, as an annotator labels
from context. No two degraded frames are within ±2 frames of each other, so fusion always has
clean neighbours; about 45 % of the annotated frames are degraded, kinds taken in turn. Every effect
draws from the video's own hard generator, so the hard split's scenes are the clean split's.
"""
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import cv2
import numpy as np

from .datasets.cityscapes_vps import FRAME_ID_BASE
from .synthetic_scene import (
    BICYCLE, CAR, MOTORCYCLE, PERSON, RIDER, THING_PALETTES, TRAFFIC_SIGN, TRUCK, Scene, Thing,
    _jitter, draw_pole, ground_y, perspective_scale, sprite_size,
)

DEGRADATIONS = ("motion_blur", "noise_burst", "exposure_flicker", "transient_occluder")
ANNOTATED_DEGRADED_SHARE = 0.45
OTHER_DEGRADED_SHARE = 0.15
CLEAN_RADIUS = 2  # frames around a degraded frame that stay clean
LOOKALIKE_CLASSES = (CAR, PERSON, TRUCK)
NOT_HIDDEN = (RIDER, BICYCLE, MOTORCYCLE)  # a rider and its vehicle would part


def motion_blur(rgb: np.ndarray, rng) -> np.ndarray:
    """Blur along a line 7-15 px long (at 128 px high) at a random angle, as a shaking camera."""
    length = max(3, int(round(rng.uniform(7, 15) * rgb.shape[0] / 128.0)))
    angle = rng.uniform(0, np.pi)
    c = (length - 1) / 2
    dx, dy = c * np.cos(angle), c * np.sin(angle)
    kernel = np.zeros((length, length), np.float32)
    cv2.line(kernel, (int(round(c - dx)), int(round(c - dy))), (int(round(c + dx)), int(round(c + dy))), 1.0)
    return cv2.filter2D(rgb, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)


def noise_burst(rgb: np.ndarray, rng) -> np.ndarray:
    """Strong Gaussian noise (sigma 25-40), as a sensor at high gain."""
    return np.clip(rgb + rng.normal(0, rng.uniform(25, 40), rgb.shape), 0, 255).astype(np.uint8)


def exposure_flicker(rgb: np.ndarray, rng) -> np.ndarray:
    """Under- (gain 0.35-0.55) or overexposure (1.7-2.2), clipped."""
    gain = rng.uniform(0.35, 0.55) if rng.random() < 0.5 else rng.uniform(1.7, 2.2)
    return np.clip(rgb * gain, 0, 255).astype(np.uint8)


def transient_occluder(rgb: np.ndarray, rng) -> np.ndarray:
    """An opaque dirt or rain smear, a tilted ellipse over 10-25 % of the frame, inside the frame."""
    h, w = rgb.shape[:2]
    aspect = rng.uniform(1.0, 2.5)
    ry = np.sqrt(rng.uniform(0.10, 0.25) * h * w / (np.pi * aspect))
    rx = aspect * ry
    angle = rng.uniform(-30, 30)
    cos, sin = abs(np.cos(np.deg2rad(angle))), abs(np.sin(np.deg2rad(angle)))
    half_w, half_h = np.hypot(rx * cos, ry * sin), np.hypot(rx * sin, ry * cos)
    cx = rng.uniform(min(half_w, w / 2), max(w - half_w, w / 2))
    cy = rng.uniform(min(half_h, h / 2), max(h - half_h, h / 2))
    mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(mask, (int(round(cx)), int(round(cy))), (int(round(rx)), int(round(ry))), angle, 0, 360, 1, -1)
    smear = np.array(_jitter(rng, (75, 65, 55), 25), np.float32) + rng.normal(0, 6, (h, w, 1))
    out = rgb.copy()
    covered = mask.astype(bool)
    out[covered] = np.clip(smear, 0, 255).astype(np.uint8)[covered]
    return out


DEGRADE = {"motion_blur": motion_blur, "noise_burst": noise_burst, "exposure_flicker": exposure_flicker,
           "transient_occluder": transient_occluder}


@dataclass
class HardVideo:
    """What one hard video adds to its clean scene; ``rng`` draws the degradations' parameters."""

    rng: np.random.Generator
    degradations: Dict[int, str]  # frame (1-based) -> kind
    lookalike_pairs: List[List[int]] = field(default_factory=list)  # segment ids, farther first
    hidden: Dict[int, List[int]] = field(default_factory=dict)  # segment id -> frames not drawn
    thin_poles: List[Dict] = field(default_factory=list)  # {"x": world x, "width": px}

    def apply(self, f: int, rgb: np.ndarray) -> Tuple[np.ndarray, List[str]]:
        """Frame f (1-based) degraded as planned, and the list of effects applied to it."""
        kind = self.degradations.get(f)
        return (rgb, []) if kind is None else (DEGRADE[kind](rgb, self.rng), [kind])

    def record(self) -> Dict:
        """The per-video entry of ``hard_effects`` in im_all_info (JSON keys are strings)."""
        return {"lookalike_pairs": self.lookalike_pairs,
                "hidden": [{"id": i, "frames": frames} for i, frames in self.hidden.items()],
                "thin_poles": self.thin_poles}


def make_hard(scene: Scene, rng, frames: int, stride: int) -> HardVideo:
    """Add thin poles, hidden objects and look-alike pairs to ``scene`` (in place) and plan the
    degraded frames, all drawn from ``rng``."""
    thin_poles = add_thin_poles(rng, scene)
    hidden = hide_objects(rng, scene, frames, stride)
    pairs = add_lookalike_pairs(rng, scene, frames)
    return HardVideo(rng, plan_degradations(rng, frames, stride), pairs, hidden, thin_poles)


def add_thin_poles(rng, scene: Scene) -> List[Dict]:
    """2-3 poles 2-3 px wide (at 128 px high), some carrying a traffic sign."""
    u = scene.height / 128.0
    poles = []
    for _ in range(int(rng.integers(2, 4))):
        width = max(1, int(round(rng.uniform(2, 3) * u)))
        extra = TRAFFIC_SIGN if rng.random() < 0.4 else 0
        x = draw_pole(rng, scene.labels, scene.colors, scene.horizon, scene.curb, width, extra, u)
        poles.append({"x": x, "width": width})
    return poles


def in_view(scene: Scene, thing: Thing, t: int) -> bool:
    """Whether the thing's whole box is inside the frame's width at frame t (0-based)."""
    w, _ = sprite_size(thing, scene.height / 128.0)
    x = thing.bottom_left(t)[0] - scene.cam_x[t]
    return 0 <= x and x + w <= scene.width


def hide_objects(rng, scene: Scene, frames: int, stride: int) -> Dict[int, List[int]]:
    """Hide 1-2 objects that are in view from the start for 2-6 consecutive frames around an
    annotated frame that has annotated frames before and after; they are in view for a stride
    before and after the gap and return with the same id. Returns segment id -> hidden frames."""
    annotated = list(range(stride, frames + 1, stride))
    centres = annotated[1:-1] or list(range(2, frames))
    candidates = [th for th in scene.things if th.start == 0 and th.category not in NOT_HIDDEN]
    wanted = int(rng.integers(1, 3))
    hidden = {}
    for i in rng.permutation(len(candidates)).tolist():
        if len(hidden) == wanted:
            break
        th, length = candidates[i], int(rng.integers(2, 7))
        if frames < length + 2:
            continue
        centre = int(rng.choice(centres))
        first = int(np.clip(centre - rng.integers(length), 2, frames - length))
        around = range(max(0, first - 1 - stride), min(frames, first + length + stride))
        if in_view(scene, th, 0) and all(in_view(scene, th, t) for t in around):
            th.hidden = frozenset(range(first - 1, first - 1 + length))
            hidden[1000 * th.category + th.instance] = list(range(first, first + length))
    return hidden


def add_lookalike_pairs(rng, scene: Scene, frames: int) -> List[List[int]]:
    """1-2 pairs of one class and near-identical colour (own textures) at almost the same depth,
    moving in opposite directions so that their centres meet mid-video in view; the second of a
    pair is a little nearer and occludes the first. Returns their segment ids."""
    u = scene.height / 128.0
    world_height = scene.labels.shape[0]
    middle = frames // 2
    pairs = []
    for _ in range(int(rng.integers(1, 3))):
        cat = int(rng.choice(LOOKALIKE_CLASSES))
        y = min(ground_y(rng, cat, scene.horizon, scene.curb, world_height, u), world_height - 1 - 5 * u)
        palette = THING_PALETTES[cat]
        color = _jitter(rng, palette[rng.integers(len(palette))])
        cross_x = scene.cam_x[middle] + rng.uniform(0.35, 0.65) * scene.width
        speed = (rng.uniform(0.9, 1.4) if cat == PERSON else rng.uniform(1.5, 3.0)) * u
        direction = float(rng.choice([-1.0, 1.0]))
        pair = []
        for y_bottom, vx in ((y, direction * speed), (y + rng.uniform(2, 5) * u, -direction * speed)):
            thing = Thing(cat, len(scene.things) + 1, 0.0, vx, float(y_bottom),
                          perspective_scale(y_bottom, scene.horizon, world_height), _jitter(rng, color, 4),
                          0, 0.6 * u if cat == PERSON else 0.0, float(rng.uniform(0, 6.28)),
                          int(rng.integers(1 << 30)))
            thing.x0 = float(cross_x - sprite_size(thing, u)[0] / 2 - vx * middle)
            scene.things.append(thing)
            pair.append(1000 * cat + thing.instance)
        pairs.append(pair)
    return pairs


def plan_degradations(rng, frames: int, stride: int) -> Dict[int, str]:
    """Frame (1-based) -> degradation: about 45 % of the annotated and 15 % of the other frames,
    none within ±2 frames of another; kinds in turn from a shuffled cycle, so they are even."""
    annotated = list(range(stride, frames + 1, stride))
    others = [f for f in range(1, frames + 1) if f % stride]
    picked: List[int] = []
    for pool, share in ((annotated, ANNOTATED_DEGRADED_SHARE), (others, OTHER_DEGRADED_SHARE)):
        wanted = len(picked) + int(round(share * len(pool)))
        for f in rng.permutation(pool).tolist():
            if len(picked) < wanted and all(abs(f - g) > CLEAN_RADIUS for g in picked):
                picked.append(f)
    cycle = rng.permutation(len(DEGRADATIONS)).tolist()
    return {f: DEGRADATIONS[cycle[i % len(cycle)]] for i, f in enumerate(picked)}


def hard_statistics(info: Dict) -> Dict:
    """Counts of each effect in a hard split, from its im_all_info JSON."""
    stride = info["generator"]["stride"]
    annotated = [im for im in info["images"] if im["id"] % FRAME_ID_BASE % stride == 0]
    kinds = Counter(kind for im in info["images"] for kind in im["effects"])
    videos = info["hard_effects"]
    gaps = [h["frames"] for v in videos for h in v["hidden"]]
    return {
        "degraded_frames": {kind: kinds[kind] for kind in DEGRADATIONS},
        "annotated_degraded": sum(bool(im["effects"]) for im in annotated),
        "annotated": len(annotated),
        "lookalike_pairs": sum(len(v["lookalike_pairs"]) for v in videos),
        "hidden_objects": len(gaps),
        "hidden_over_annotated": sum(any(f % stride == 0 for f in g) for g in gaps),
        "thin_poles": sum(len(v["thin_poles"]) for v in videos),
    }


def format_hard_statistics(hard: Dict) -> str:
    kinds = ", ".join(f"{kind} {n}" for kind, n in hard["degraded_frames"].items())
    return "\n".join([
        f"degraded frames: {kinds} ({hard['annotated_degraded']} of {hard['annotated']} annotated frames)",
        f"look-alike pairs: {hard['lookalike_pairs']}  hidden objects: {hard['hidden_objects']} "
        f"({hard['hidden_over_annotated']} over an annotated frame)  thin poles: {hard['thin_poles']}",
    ])
