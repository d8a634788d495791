"""Procedural street scenes for the synthetic Cityscapes-VPS-format dataset (SPEC §3).

A video is a wide *world* of textured stuff (sky, buildings, vegetation, walls, fences, poles with
signs and lights, sidewalk, terrain, road with lane marks) seen through a camera that pans and
shakes, plus *things* of the 8 Cityscapes thing classes with class-specific shapes, colours and
textures that move at their own speed, occlude each other by depth, and enter or leave the view.
Everything is drawn from one ``numpy.random.Generator``, so a seed fixes the video exactly.
Sizes scale with the frame height and are chosen so that at the quick start's 128x256 every class
is a solid shape big enough to learn (poles >= 4 px, two-wheelers mostly visible under riders).

Category ids are the Cityscapes-VPS ids (trainIds) of ``categories.CITYSCAPES_VPS_CATEGORIES``.
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

import cv2
import numpy as np

# fmt: off
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, TRAFFIC_LIGHT, TRAFFIC_SIGN, VEGETATION, TERRAIN, SKY = range(11)
PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = range(11, 19)
# fmt: on
THING_ID_DIVISOR = 1000  # a thing's label value is THING_ID_DIVISOR * category + instance

# Relative frequency of each thing class among spawned objects (cars and people dominate, as in
# Cityscapes); riders always come with a bicycle or motorcycle.
THING_WEIGHTS = {CAR: 4, PERSON: 4, TRUCK: 2, BUS: 1.5, TRAIN: 0.8, BICYCLE: 2, MOTORCYCLE: 2}

# Base colours (RGB) of the things: an instance jitters around one of its class's colours.
THING_PALETTES = {
    CAR: [(30, 60, 170), (160, 165, 175), (20, 20, 30), (150, 30, 35), (235, 235, 235)],
    PERSON: [(200, 40, 50), (60, 120, 60), (230, 200, 40), (120, 60, 160)],
    RIDER: [(250, 110, 20), (240, 240, 60)],
    TRUCK: [(230, 120, 30), (200, 200, 190)],
    BUS: [(240, 200, 20), (200, 40, 40)],
    TRAIN: [(90, 110, 140), (200, 60, 50)],
    MOTORCYCLE: [(20, 20, 90), (120, 0, 120)],
    BICYCLE: [(30, 160, 160), (170, 170, 30)],
}
# Sprite size (w, h) in pixels at perspective scale 1 in a 128-px-high frame. Two-wheelers are
# solid silhouettes big enough to keep most of their area visible under their rider.
THING_SIZES = {CAR: (40, 18), TRUCK: (50, 28), BUS: (66, 28), TRAIN: (110, 30), PERSON: (17, 42),
               RIDER: (16, 28), MOTORCYCLE: (36, 22), BICYCLE: (32, 21)}
# Where a rider sits on its vehicle: left edge and feet as fractions of the vehicle's width and
# of its height above the ground.
RIDER_SEAT = (0.22, 0.45)
SKIN = (225, 180, 140)
DARK = (25, 25, 25)
GLASS = (150, 190, 215)


@dataclass
class Thing:
    """One moving object: class, instance number within the video, trajectory and look."""

    category: int
    instance: int  # 1-based, unique within the video
    x0: float  # world x of the left edge at frame 0
    vx: float  # world pixels per frame
    y_bottom: float  # world y of the ground contact
    scale: float  # perspective scale
    color: Tuple[int, int, int]
    start: int  # first frame the object exists
    bob: float  # vertical bobbing amplitude (pixels), e.g. walking
    phase: float
    texture_seed: int
    shift: float = 0.0  # drawn this far right of x (a rider on its vehicle)
    lift: float = 0.0  # drawn this far above its ground contact (a rider's feet)
    hidden: frozenset = frozenset()  # frames in which it is not drawn (a hard video's gap)

    def bottom_left(self, t: int) -> Tuple[float, float]:
        x = self.x0 + self.vx * (t - self.start) + self.shift
        y = self.y_bottom + self.bob * np.sin(0.9 * t + self.phase) - self.lift
        return x, y


@dataclass
class Scene:
    """The world of one video: stuff label/colour canvases, camera path and things."""

    labels: np.ndarray  # (Hw, Ww) int16 stuff category per world pixel
    colors: np.ndarray  # (Hw, Ww, 3) uint8
    cam_x: np.ndarray  # (T,) int camera left edge in world coordinates
    cam_y: np.ndarray  # (T,) int camera top edge
    things: List[Thing]
    height: int
    width: int
    horizon: int  # world row where the sidewalk starts
    curb: int  # world row where the road starts


def _jitter(rng, color, amount=18):
    return tuple(int(c) for c in np.clip(np.array(color) + rng.integers(-amount, amount + 1, 3), 0, 255))


def _smooth_noise(rng, shape, cell):
    """Low-frequency noise in [-1, 1]: random values on a coarse grid, bilinearly upsampled."""
    h, w = shape
    coarse = rng.uniform(-1, 1, (h // cell + 2, w // cell + 2)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)


def _paint(labels, colors, mask, category, color, noise=None, strength=0.0):
    labels[mask] = category
    base = np.array(color, np.float32)
    if noise is None:
        colors[mask] = base.astype(np.uint8)
    else:
        shade = 1.0 + strength * noise[mask][:, None]
        colors[mask] = np.clip(base[None] * shade, 0, 255).astype(np.uint8)


def _draw_poles(rng, labels, colors, horizon, curb, width, u):
    """Poles on the sidewalk (>= 4 px wide at 128 px high); every video has at least one pole
    with a traffic light and one with a traffic sign, the others carry either or nothing."""
    hw, ww = labels.shape
    count = max(2, int(rng.integers(1, 4)) + ww // max(1, width))
    extras = [TRAFFIC_LIGHT, TRAFFIC_SIGN]
    extras += [int(rng.choice([0, TRAFFIC_SIGN, TRAFFIC_LIGHT])) for _ in range(count - 2)]
    for extra in rng.permutation(extras).tolist():
        pw = max(2, int(round(rng.uniform(4, 6) * u)))
        draw_pole(rng, labels, colors, horizon, curb, pw, extra, u)


def draw_pole(rng, labels, colors, horizon, curb, pw, extra, u) -> int:
    """One pole pw px wide standing on the sidewalk at a random x, carrying ``extra`` (a traffic
    light, a traffic sign or nothing: 0); returns its left world x."""
    hw, ww = labels.shape
    px = int(rng.uniform(0, ww - pw))
    ptop = max(0, int(horizon - rng.uniform(0.25, 0.42) * hw))
    pbottom = int(rng.uniform(horizon + 2, curb))
    mask = np.zeros((hw, ww), bool)
    mask[ptop:pbottom, px:px + pw] = True
    _paint(labels, colors, mask, POLE, _jitter(rng, (150, 150, 150), 10))
    if extra == TRAFFIC_LIGHT:
        _draw_traffic_light(rng, labels, colors, px + pw / 2, ptop, u)
    elif extra == TRAFFIC_SIGN:
        _draw_traffic_sign(rng, labels, colors, px + pw / 2, ptop, u)
    return px


def _draw_traffic_light(rng, labels, colors, cx, top, u):
    """A dark housing (about 11x18 px at 128 px high) on the pole top, one of its 3 lamps lit."""
    lw, lh = int(round(rng.uniform(10, 12) * u)), int(round(rng.uniform(16, 20) * u))
    x0 = int(round(cx - lw / 2))
    mask = np.zeros(labels.shape, bool)
    mask[top:top + lh, max(0, x0):x0 + lw] = True
    _paint(labels, colors, mask, TRAFFIC_LIGHT, _jitter(rng, (40, 40, 40), 8))
    lit = int(rng.integers(3))
    for i, lamp in enumerate([(255, 50, 40), (255, 190, 30), (60, 230, 90)]):
        color = lamp if i == lit else tuple(c // 4 for c in lamp)
        center = (int(round(cx)), top + (2 * i + 1) * lh // 6)
        cv2.circle(colors, center, max(1, int(lw * 0.25)), color, -1)


def _draw_traffic_sign(rng, labels, colors, cx, top, u):
    """A plate (about 15x15 px at 128 px high) below the pole top: a blue disc, a red-rimmed white
    triangle or a yellow diamond."""
    size = int(round(rng.uniform(14, 17) * u))
    r = size / 2
    cy = top + int(round(rng.uniform(2, 6) * u)) + r
    mask = np.zeros(labels.shape, np.uint8)
    shape = int(rng.integers(3))
    if shape == 0:
        cv2.circle(mask, (int(round(cx)), int(round(cy))), int(round(r)), 1, -1)
        color, rim = (30, 80, 190), (235, 235, 235)
    else:
        pts = [(0, -1), (1, 0.9), (-1, 0.9)] if shape == 1 else [(0, -1), (1, 0), (0, 1), (-1, 0)]
        cv2.fillPoly(mask, [np.array([[cx + r * dx, cy + r * dy] for dx, dy in pts], np.int32)], 1)
        color, rim = ((240, 240, 240), (200, 30, 30)) if shape == 1 else ((225, 200, 20), (40, 40, 40))
    mask = mask.astype(bool)
    _paint(labels, colors, mask, TRAFFIC_SIGN, rim)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, int(1.5 * u)))
    colors[inner.astype(bool)] = color


def build_world(rng, height: int, width: int, frames: int) -> Scene:
    """Sample the stuff layout and the camera path of one video."""
    u = height / 128.0
    pan = rng.uniform(-2.2, 2.2) * u  # camera pan, pixels per frame
    shake = rng.uniform(0, 1.5) * u
    margin_y = int(np.ceil(shake)) + 1
    span = int(np.ceil(abs(pan) * frames)) + 2
    hw, ww = height + 2 * margin_y, width + span
    labels = np.full((hw, ww), SKY, np.int16)
    colors = np.zeros((hw, ww, 3), np.uint8)
    yy = np.arange(hw, dtype=np.float32)[:, None]

    # Sky: vertical gradient with soft clouds.
    sky = np.array([70, 130, 180], np.float32)[None, None] * (0.8 + 0.4 * yy[..., None] / hw)
    clouds = _smooth_noise(rng, (hw, ww), int(24 * u) + 1)[..., None]
    colors[:] = np.clip(sky + 40 * np.maximum(clouds, 0), 0, 255).astype(np.uint8)

    horizon = int(margin_y + rng.uniform(0.42, 0.55) * height)
    curb = horizon + int(rng.uniform(0.07, 0.11) * height)

    # Skyline: a run of buildings and trees, with walls/fences in front of some.
    x = 0
    while x < ww:
        seg_w = int(rng.uniform(18, 60) * u)
        kind = rng.choice([BUILDING, BUILDING, VEGETATION, WALL], p=[0.3, 0.25, 0.3, 0.15])
        top = int(horizon - rng.uniform(0.12, 0.42) * height)
        cols = slice(x, min(ww, x + seg_w))
        if kind == VEGETATION:
            mask = np.zeros((hw, ww), bool)
            for _ in range(rng.integers(2, 5)):
                cx, cy = rng.uniform(x, x + seg_w), rng.uniform(top, horizon)
                rx, ry = rng.uniform(6, 16) * u, rng.uniform(8, 20) * u
                ys, xs = np.ogrid[:hw, :ww]
                mask |= ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1
            mask[horizon:] = False
            _paint(labels, colors, mask, VEGETATION, _jitter(rng, (90, 140, 40)),
                   _smooth_noise(rng, (hw, ww), int(3 * u) + 1), 0.35)
        else:
            mask = np.zeros((hw, ww), bool)
            mask[max(top, 0):horizon, cols] = True
            color = _jitter(rng, (70, 70, 70) if kind == BUILDING else (102, 102, 156), 25)
            _paint(labels, colors, mask, kind, color, _smooth_noise(rng, (hw, ww), int(5 * u) + 1), 0.15)
            if kind == BUILDING:  # window grid, part of the building
                win = max(2, int(3 * u))
                for wy in range(max(top, 0) + win, horizon - win, 3 * win):
                    for wx in range(x + win, min(ww, x + seg_w) - win, 3 * win):
                        colors[wy:wy + win, wx:wx + win] = _jitter(rng, (160, 180, 200), 30)
        x += seg_w

    # Fences in front of the skyline, on the sidewalk's far edge. The whole panel is fence (as
    # annotators label a picket fence); the pickets and the top rail are its texture, the gaps a
    # darker shade of it. Labelled picket by picket, 1-px combs at 128 px high, no model learns it.
    for _ in range(rng.integers(1, 3)):
        fx, fw = int(rng.uniform(0, ww)), int(rng.uniform(20, 70) * u)
        fh = int(rng.uniform(6, 12) * u)
        mask = np.zeros((hw, ww), bool)
        mask[horizon - fh:horizon, fx:fx + fw] = True
        _paint(labels, colors, mask, FENCE, (190, 153, 153))
        gaps = mask & ((np.arange(ww)[None] // max(1, int(2 * u))) % 2 == 1) & (
            (np.arange(hw)[:, None] - (horizon - fh)) >= max(1, int(1.5 * u)))
        colors[gaps] = (95, 76, 76)

    # Ground: sidewalk band, terrain patches, road with lane marks.
    side = np.zeros((hw, ww), bool)
    side[horizon:curb] = True
    _paint(labels, colors, side, SIDEWALK, _jitter(rng, (200, 150, 190)), _smooth_noise(rng, (hw, ww), 2), 0.12)
    for _ in range(rng.integers(1, 3)):
        tx, tw = int(rng.uniform(0, ww)), int(rng.uniform(15, 50) * u)
        mask = np.zeros((hw, ww), bool)
        mask[horizon + 1:curb, tx:tx + tw] = True
        _paint(labels, colors, mask, TERRAIN, _jitter(rng, (130, 190, 110)), _smooth_noise(rng, (hw, ww), 3), 0.3)
    road = np.zeros((hw, ww), bool)
    road[curb:] = True
    _paint(labels, colors, road, ROAD, _jitter(rng, (110, 90, 110), 12), _smooth_noise(rng, (hw, ww), 2), 0.15)
    lane_y = int(curb + 0.55 * (hw - curb))
    dash, gap = int(12 * u), int(10 * u)
    for lx in range(int(rng.integers(0, dash + gap)), ww, dash + gap):
        colors[lane_y:lane_y + max(1, int(1.5 * u)), lx:lx + dash] = (225, 225, 225)

    _draw_poles(rng, labels, colors, horizon, curb, width, u)

    t = np.arange(frames)
    start_x = 0 if pan >= 0 else span - 1
    cam_x = np.clip(np.round(start_x + pan * t), 0, span - 1).astype(int)
    cam_y = np.round(margin_y + shake * np.sin(0.7 * t + rng.uniform(0, 6.28))).astype(int)
    cam_y = np.clip(cam_y, 0, 2 * margin_y)
    scene = Scene(labels, colors, cam_x, cam_y, [], height, width, horizon, curb)
    scene.things = sample_things(rng, scene, horizon, curb, frames)
    return scene


def sample_things(rng, scene: Scene, horizon: int, curb: int, frames: int) -> List[Thing]:
    """Spawn objects: some visible from the start, others entering later from either side."""
    u = scene.height / 128.0
    hw = scene.labels.shape[0]
    classes = list(THING_WEIGHTS)
    probs = np.array([THING_WEIGHTS[c] for c in classes], float)
    probs /= probs.sum()
    things: List[Thing] = []
    n = int(rng.integers(6, 11))
    for _ in range(n):
        cat = int(rng.choice(classes, p=probs))
        y = ground_y(rng, cat, horizon, curb, hw, u)
        speed = (rng.uniform(0.3, 1.2) if cat == PERSON else rng.uniform(0.8, 3.5)) * u
        scale = perspective_scale(y, horizon, hw)
        direction = rng.choice([-1.0, 1.0])
        start = 0 if rng.random() < 0.6 else int(rng.integers(1, max(2, frames - 5)))
        cam_x = scene.cam_x[start]
        if start == 0:
            x0 = cam_x + rng.uniform(-0.1, 0.9) * scene.width
        else:  # enters from outside the view, moving inwards
            x0 = cam_x - 60 * u * scale if direction > 0 else cam_x + scene.width + 5 * u
        thing = Thing(cat, len(things) + 1, float(x0), float(direction * speed), float(y), float(scale),
                      _jitter(rng, THING_PALETTES[cat][rng.integers(len(THING_PALETTES[cat]))]),
                      start, float(rng.uniform(0.3, 1.0) * u if cat == PERSON else 0.0),
                      float(rng.uniform(0, 6.28)), int(rng.integers(1 << 30)))
        things.append(thing)
        if cat in (BICYCLE, MOTORCYCLE) and rng.random() < 0.8:  # with a rider on top
            w, h = sprite_size(thing, u)
            things.append(Thing(RIDER, len(things) + 1, thing.x0, thing.vx, thing.y_bottom, thing.scale,
                                _jitter(rng, THING_PALETTES[RIDER][rng.integers(2)]), start, 0.0, 0.0,
                                int(rng.integers(1 << 30)), RIDER_SEAT[0] * w, RIDER_SEAT[1] * h))
    return things


def ground_y(rng, category: int, horizon: int, curb: int, world_height: int, u: float) -> float:
    """World y of a new thing's ground contact: people walk on the sidewalk, vehicles on the road."""
    if category == PERSON:
        return rng.uniform(horizon + 3 * u, curb + 2 * u)
    return rng.uniform(curb + 6 * u, world_height - 1)


def perspective_scale(y: float, horizon: int, world_height: int) -> float:
    """Size factor of a thing standing at world row y: nearer (lower) is bigger."""
    return 0.55 + 0.8 * (y - horizon) / max(1.0, world_height - horizon)


def sprite_size(thing: Thing, u: float) -> Tuple[int, int]:
    """Width and height in pixels of a thing's sprite; u = frame height / 128."""
    w, h = THING_SIZES[thing.category]
    s = thing.scale * u
    return max(3, int(w * s)), max(4, int(h * s))


class _Sprite:
    """Mask and colours of one sprite, drawn with shapes in coordinates relative to its box."""

    def __init__(self, w: int, h: int, color):
        self.w, self.h, self.color = w, h, color
        self.mask = np.zeros((h, w), np.uint8)
        self.img = np.zeros((h, w, 3), np.uint8)
        self.img[:] = color

    def poly(self, pts, color=None):
        p = np.array([[int(px * (self.w - 1)), int(py * (self.h - 1))] for px, py in pts], np.int32)
        cv2.fillPoly(self.mask, [p], 1)
        if color is not None:
            cv2.fillPoly(self.img, [p], color)

    def ellipse(self, cx, cy, rx, ry, color=None):
        c = (int(cx * (self.w - 1)), int(cy * (self.h - 1)))
        ax = (max(1, int(rx * self.w)), max(1, int(ry * self.h)))
        cv2.ellipse(self.mask, c, ax, 0, 0, 360, 1, -1)
        if color is not None:
            cv2.ellipse(self.img, c, ax, 0, 0, 360, color, -1)


def _draw_car(sp: _Sprite):
    """Body, cabin with windows, two wheels."""
    sp.poly([(0, .45), (1, .45), (1, .85), (0, .85)])
    sp.poly([(.18, .45), (.32, .05), (.72, .05), (.86, .45)])
    sp.poly([(.25, .42), (.35, .12), (.68, .12), (.78, .42)], GLASS)
    for cx in (.22, .78):
        sp.ellipse(cx, .85, .1, .16, DARK)


def _draw_long_vehicle(sp: _Sprite, cat: int):
    """Truck (cab with a window, lighter box), bus (a strip of windows), train (more windows, a stripe)."""
    sp.poly([(0, 0), (1, 0), (1, .88), (0, .88)])
    if cat == TRUCK:
        sp.poly([(.72, .2), (.95, .2), (.95, .5), (.72, .5)], GLASS)
        sp.img[: int(.85 * sp.h), : int(.68 * sp.w)] = np.clip(np.array(sp.color) * 0.8 + 40, 0, 255)
    else:
        n = 6 if cat == BUS else 12
        for i in range(n):
            x0 = .04 + i * .94 / n
            sp.poly([(x0, .15), (x0 + .6 / n, .15), (x0 + .6 / n, .5), (x0, .5)], GLASS)
        if cat == TRAIN:
            sp.img[int(.62 * sp.h):int(.72 * sp.h)] = (240, 240, 240)
    for cx in ((.12, .88) if cat != TRAIN else (.05, .2, .8, .95)):
        sp.ellipse(cx, .88, .06 if cat != TRAIN else .025, .12, DARK)


def _draw_person(sp: _Sprite):
    """Standing, seen from the side: head, torso in the body colour, two legs."""
    sp.ellipse(.5, .1, .3, .1, SKIN)
    sp.poly([(.1, .19), (.9, .19), (.86, .6), (.14, .6)])
    legs = (60, 60, 90)
    sp.poly([(.14, .58), (.48, .58), (.46, 1), (.12, 1)], legs)
    sp.poly([(.52, .58), (.86, .58), (.88, 1), (.54, 1)], legs)


def _draw_rider(sp: _Sprite):
    """Seated, leaning forward: helmet, jacket in the body colour, one bent leg (drawn over the
    vehicle's frame, which stays mostly visible)."""
    sp.ellipse(.55, .1, .3, .1, (235, 235, 235))
    sp.poly([(.12, .2), (.92, .2), (.86, .66), (.08, .66)])
    sp.poly([(.08, .62), (.9, .62), (.9, 1), (.62, 1), (.6, .8), (.08, .8)], (40, 40, 60))


def _draw_two_wheeler(sp: _Sprite, cat: int):
    """Solid side view: two wheels as dark discs with grey hubs and a filled frame with a chainring
    (bicycle) or a body with tank, seat, windshield and a dark engine block (motorcycle)."""
    if cat == BICYCLE:
        sp.poly([(.12, .74), (.88, .74), (.84, .24), (.9, .04), (.68, .04), (.62, .2), (.38, .22),
                 (.42, .08), (.1, .08), (.18, .26)])
        sp.ellipse(.5, .74, .1, .15, (95, 95, 95))  # chainring
    else:
        sp.poly([(.12, .7), (.88, .7), (.94, .36), (.82, .04), (.7, .1), (.66, .22), (.5, .2),
                 (.16, .28)])
        sp.poly([(.34, .62), (.66, .62), (.62, .9), (.38, .9)], DARK)
        sp.poly([(.78, .1), (.9, .1), (.92, .34), (.8, .34)], GLASS)
    for cx in (.19, .81):
        sp.ellipse(cx, .71, .18, .29, DARK)
        sp.ellipse(cx, .71, .07, .11, (130, 130, 130))


def thing_sprite(thing: Thing, u: float) -> Tuple[np.ndarray, np.ndarray]:
    """Mask (h, w) bool and colours (h, w, 3) of a thing, bottom-left anchored, in its own frame."""
    w, h = sprite_size(thing, u)
    cat = thing.category
    sp = _Sprite(w, h, thing.color)
    if cat == CAR:
        _draw_car(sp)
    elif cat in (TRUCK, BUS, TRAIN):
        _draw_long_vehicle(sp, cat)
    elif cat == PERSON:
        _draw_person(sp)
    elif cat == RIDER:
        _draw_rider(sp)
    else:
        _draw_two_wheeler(sp, cat)
    # Texture: fine per-object noise that moves with the object.
    noise = np.random.default_rng(thing.texture_seed).integers(-14, 15, (h, w, 1))
    img = np.clip(sp.img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return sp.mask.astype(bool), img


def drawing_order(scene: Scene, t: int) -> List[Thing]:
    """The things drawn in frame t, in painter's order: far (small y) first, a rider after its vehicle."""
    shown = (th for th in scene.things if th.start <= t and t not in th.hidden)
    return sorted(shown, key=lambda th: (th.y_bottom, th.category == RIDER))


def sprite_origin(scene: Scene, thing: Thing, t: int) -> Tuple[int, int]:
    """Top-left pixel (x, y) of the thing's sprite in frame t (may lie outside the frame)."""
    _, sh = sprite_size(thing, scene.height / 128.0)
    wx, wy = thing.bottom_left(t)
    return int(round(wx - scene.cam_x[t])), int(round(wy - scene.cam_y[t])) - sh


def render_frame(scene: Scene, t: int, rng) -> Tuple[np.ndarray, np.ndarray, Dict[int, int]]:
    """Render frame t.

    Returns:
        rgb (H, W, 3) uint8, a per-pixel label map (H, W) int32 where stuff pixels hold their
        category id and thing pixels ``1000 * category + instance``, and {instance: category} of
        the things drawn.
    """
    h, w = scene.height, scene.width
    cx, cy = scene.cam_x[t], scene.cam_y[t]
    rgb = scene.colors[cy:cy + h, cx:cx + w].copy()
    label = scene.labels[cy:cy + h, cx:cx + w].astype(np.int32)
    u = h / 128.0
    drawn = {}
    for th in drawing_order(scene, t):
        mask, img = thing_sprite(th, u)
        sh, sw = mask.shape
        x0, y0 = sprite_origin(scene, th, t)
        xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x0 + sw), min(h, y0 + sh)
        if xa >= xb or ya >= yb:
            continue
        m = mask[ya - y0:yb - y0, xa - x0:xb - x0]
        if not m.any():
            continue
        rgb[ya:yb, xa:xb][m] = img[ya - y0:yb - y0, xa - x0:xb - x0][m]
        label[ya:yb, xa:xb][m] = THING_ID_DIVISOR * th.category + th.instance
        drawn[th.instance] = th.category
    # Global lighting flicker and sensor noise.
    gain = 1.0 + rng.uniform(-0.05, 0.05)
    noisy = rgb.astype(np.float32) * gain + rng.normal(0, 4.0, rgb.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8), label, drawn
