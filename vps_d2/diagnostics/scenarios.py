"""Seeded scenario videos with exact ground truth, rendered by the synthetic generator.

Each :class:`ScenarioVideo` has, per frame, the degraded image the model sees, the clean rendering
of the same frame, the label map (stuff class or ``THING_ID_DIVISOR · class + instance``), the
backward flow to the previous frame (NaN where not visible, :mod:`..data.synthetic_flow`) and its
degradations. Scenarios:

* ``hard``: the hard split's videos (degraded frames, look-alikes, hidden objects);
* ``slow_lookalike``: two objects of one class and colour at one depth, crossing slowly;
* ``fast_distinct``: objects of one class in distinct colours moving more than their own width
  per frame (mask IoU between frames is 0);
* ``reentry``: objects hidden for 2-6 frames that return with their id (the tracker's memory).
"""
from dataclasses import dataclass, field
from typing import List

import numpy as np

from ..data.synthetic import build_video
from ..data.synthetic_flow import backward_flow
from ..data.synthetic_hard import hide_objects
from ..data.synthetic_scene import CAR, THING_PALETTES, Thing, _jitter, perspective_scale, render_frame, sprite_size

TRACKING_SCENARIOS = ("slow_lookalike", "fast_distinct", "reentry")
SCENARIOS = ("hard",) + TRACKING_SCENARIOS
STRIDE = 5


@dataclass
class ScenarioVideo:
    name: str
    images: List[np.ndarray] = field(default_factory=list)  # RGB (H, W, 3) uint8, what the model sees
    clean: List[np.ndarray] = field(default_factory=list)  # the same frames undegraded
    labels: List[np.ndarray] = field(default_factory=list)  # (H, W) int32
    flows: List[np.ndarray] = field(default_factory=list)  # (H, W, 2) to the previous frame; None first
    effects: List[List[str]] = field(default_factory=list)

    def annotated(self) -> List[int]:
        """0-based indices of the frames annotated as in the splits (every STRIDE-th, 1-based)."""
        return [t for t in range(len(self.images)) if (t + 1) % STRIDE == 0]


def _render(name: str, scene, rng, frames: int, hard=None) -> ScenarioVideo:
    video = ScenarioVideo(name)
    for t in range(frames):
        rgb, label, _ = render_frame(scene, t, rng)
        degraded, effects = hard.apply(t + 1, rgb) if hard is not None else (rgb, [])
        video.images.append(degraded)
        video.clean.append(rgb)
        video.labels.append(label)
        video.flows.append(backward_flow(scene, t, label, video.labels[t - 1]) if t else None)
        video.effects.append(effects)
    return video


def _still_camera(scene) -> None:
    scene.cam_x[:] = scene.cam_x[0]
    scene.cam_y[:] = scene.cam_y[0]


def _car(scene, instance: int, x0: float, vx: float, y: float, color, rng, scale: float = None) -> Thing:
    world_height = scene.labels.shape[0]
    scale = perspective_scale(y, scene.horizon, world_height) if scale is None else scale
    return Thing(CAR, instance, float(x0), float(vx), float(y), float(scale), color, 0, 0.0, 0.0,
                 int(rng.integers(1 << 30)))


def make_scenario(name: str, seed: int, height: int = 128, width: int = 256, frames: int = 30) -> ScenarioVideo:
    """One seeded video of scenario ``name`` (the tracking scenarios are shorter: 12 frames)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario '{name}', expected one of {SCENARIOS}")
    difficulty = "hard" if name == "hard" else "clean"
    scene, rng, hard = build_video(seed, "test", 1, height, width, frames, STRIDE, difficulty)
    if name == "hard":
        return _render(name, scene, rng, frames, hard)
    frames = 12
    u = height / 128.0
    _still_camera(scene)
    cam = scene.cam_x[0]
    y = float(rng.uniform(scene.curb + 10 * u, scene.labels.shape[0] - 2))
    if name == "slow_lookalike":  # two cars of one colour cross at mid-video, 1.5 px per frame each
        color = _jitter(rng, THING_PALETTES[CAR][int(rng.integers(len(THING_PALETTES[CAR])))])
        speed, middle = 1.5 * u, frames / 2
        cross = cam + rng.uniform(0.35, 0.65) * width
        first = _car(scene, 1, 0.0, speed, y, color, rng)
        second = _car(scene, 2, 0.0, -speed, y + 3 * u, _jitter(rng, color, 3), rng)
        for thing in (first, second):
            thing.x0 = cross - sprite_size(thing, u)[0] / 2 - thing.vx * middle
        scene.things = [first, second]
    elif name == "fast_distinct":  # distinct colours, displaced by 1.3 widths per frame
        palette = THING_PALETTES[CAR]
        things = []
        for i, row in enumerate(np.linspace(scene.curb + 8 * u, scene.labels.shape[0] - 2, 3)):
            thing = _car(scene, i + 1, 0.0, 0.0, float(row), palette[(2 * i) % len(palette)], rng, scale=0.6)
            w = sprite_size(thing, u)[0]
            direction = 1.0 if i % 2 == 0 else -1.0
            thing.vx = direction * 1.3 * w
            thing.x0 = cam + (2 if direction > 0 else width - w - 2)
            things.append(thing)
        scene.things = things
        frames = max(2, int((width - 40 * u) // (1.3 * sprite_size(things[0], u)[0])) + 1)
    else:  # reentry: the hard split's hiding, slow objects, one of them hidden over an annotated frame
        scene.things = [th for th in scene.things if th.start == 0]
        for th in scene.things:
            th.vx = float(np.sign(th.vx) * min(abs(th.vx), 0.8 * u))
        hide_objects(np.random.default_rng([seed, 7]), scene, frames, STRIDE)
    return _render(name, scene, rng, frames)
