"""Reading and writing RGB-encoded panoptic id maps (id = R + 256·G + 256²·B, 0 = void)."""
import numpy as np
from PIL import Image

from ..utils.file_io import atomic_write_image

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


def read_panoptic_png(path: str) -> np.ndarray:
    """Read a panoptic PNG as HxW int64 ids, with one clear error for an unreadable or non-RGB file."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode != "RGB":
                raise ValueError(f"{path}: expected an RGB panoptic PNG, got mode {im.mode}")
            return rgb_to_id(np.asarray(im))
    except (OSError, SyntaxError) as e:
        raise ValueError(f"{path}: cannot read panoptic PNG ({e})") from e


def write_panoptic_png(path: str, ids: np.ndarray) -> None:
    """Write HxW ids as an RGB PNG, atomically."""
    atomic_write_image(path, id_to_rgb(ids))
