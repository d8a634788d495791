"""RGB encoding of panoptic segment ids: id = R + 256·G + 256²·B, 0 = void (numpy only, so the
scorer can use it without importing the data package)."""
import numpy as np

MAX_ID = 256**3 - 1


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> HxW int64 segment ids."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """HxW integer ids in [0, 256³) -> HxWx3 uint8."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() > MAX_ID):
        raise ValueError(f"segment ids must be in [0, {MAX_ID}] to be RGB-encoded, got {ids.min()}..{ids.max()}")
    return np.stack([ids % 256, (ids // 256) % 256, ids // 65536], axis=-1).astype(np.uint8)
