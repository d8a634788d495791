"""Atomic file output: write to a temporary name in the target folder, then rename.

A reader (or a resumed run) never sees a half-written file: either the old file, no file, or the
complete new one (SPEC §8). The file gets the permissions ``open`` would have given it (the
temporary file is private to its owner until the rename).
"""
import contextlib
import json
import os
import tempfile
from typing import Any, Iterator

import numpy as np
from PIL import Image

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write_bytes(path: str, data: bytes) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)


def atomic_write_json(path: str, obj: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f)


def atomic_write_image(path: str, array: np.ndarray) -> None:
    """Save an HxW or HxWx3 uint8 array (RGB order) as PNG/JPEG, chosen by the extension."""
    with atomic_path(path) as tmp:
        Image.fromarray(array).save(tmp, format=_pil_format(path))


def _pil_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    return {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(ext, "PNG")
