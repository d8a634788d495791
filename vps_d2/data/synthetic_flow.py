"""Ground-truth optical flow of the synthetic videos (issue 22): what the generator knows exactly.

The stuff layer moves with the camera by whole pixels and every sprite is pasted at a whole-pixel
origin, so the backward flow of frame t (pixel (x, y) of frame t shows what was at (x + dx, y + dy)
of frame t - 1) is exact and integer: the camera's step for stuff, the sprite's step for a thing.
A point is visible in frame t - 1 when it lands inside that frame on the same label (the same stuff
class or the same thing); elsewhere (occluded, out of view, newly entered) the flow is NaN.
"""
import numpy as np

from .synthetic_scene import THING_ID_DIVISOR, Scene, drawing_order, sprite_origin


def backward_flow(scene: Scene, t: int, label: np.ndarray, previous_label: np.ndarray) -> np.ndarray:
    """Flow (H, W, 2) float32 in pixels from frame t (t >= 1) to frame t - 1, NaN where not visible.

    Args:
        scene: the video's scene, as rendered.
        t: the 0-based frame index.
        label, previous_label: ``render_frame``'s label maps of frames t and t - 1.
    """
    if t < 1:
        raise ValueError("a video's first frame has no previous frame")
    h, w = label.shape
    flow = np.empty((h, w, 2), np.float32)
    flow[..., 0] = scene.cam_x[t] - scene.cam_x[t - 1]
    flow[..., 1] = scene.cam_y[t] - scene.cam_y[t - 1]
    for thing in drawing_order(scene, t):
        on = label == THING_ID_DIVISOR * thing.category + thing.instance
        if on.any():
            (x0, y0), (x1, y1) = sprite_origin(scene, thing, t), sprite_origin(scene, thing, t - 1)
            flow[on] = (x1 - x0, y1 - y0)
    ys, xs = np.mgrid[:h, :w]
    tx, ty = xs + flow[..., 0].astype(np.int64), ys + flow[..., 1].astype(np.int64)
    inside = (tx >= 0) & (tx < w) & (ty >= 0) & (ty < h)
    visible = np.zeros((h, w), bool)
    visible[inside] = previous_label[ty[inside], tx[inside]] == label[inside]
    flow[~visible] = np.nan
    return flow
