"""Reading and writing RGB-encoded panoptic id maps (id = R + 256·G + 256²·B, 0 = void)."""
import numpy as np
from PIL import Image

from ..utils.errors import UserError
from ..utils.file_io import atomic_write_image
from ..utils.panoptic_ids import MAX_ID, id_to_rgb, rgb_to_id  # noqa: F401  (re-exported)


def read_panoptic_png(path: str) -> np.ndarray:
    """Read a panoptic PNG as HxW int64 ids, with one clear error for an unreadable or non-RGB file."""
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode != "RGB":
                raise UserError(f"{path}: expected an RGB panoptic PNG, got mode {im.mode}")
            return rgb_to_id(np.asarray(im))
    except (OSError, SyntaxError) as e:
        raise UserError(f"{path}: cannot read panoptic PNG ({e})") from e


def write_panoptic_png(path: str, ids: np.ndarray) -> None:
    """Write HxW ids as an RGB PNG, atomically."""
    atomic_write_image(path, id_to_rgb(ids))
