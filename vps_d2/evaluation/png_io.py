"""Decoding 8-bit RGB PNGs into one packed integer per pixel, fast: the scorer's hot path.

Scoring is mostly PNG decoding. Wuffs (``pywuffs``) decodes a 1024×2048 panoptic PNG in 3–4 ms
where OpenCV, whose wheels link zlib 1.2.7, takes 18–25 ms (``benchmarks/bench_vpq.py`` prints
both): most of it is inflating the long runs of one colour (one frame's image data: 20 ms with
Python's zlib, 0.5 ms with zlib-ng). When ``pywuffs`` is not installed, OpenCV decodes, with
identical results (``tests/evaluation/test_png_io.py`` checks both decoders on the same files).

Both decoders accept exactly what the PNG header declares as 8-bit RGB (colour type 2) or a
palette (colour type 3, of 1 to 8 bits, expanded to its 8-bit RGB colours); transparency (tRNS) is
ignored, as the official evaluators (PIL) ignore it: such files go to OpenCV, as Wuffs would blank
their transparent pixels.
Anything else (grey, RGBA, 16-bit, not a PNG, truncated) raises :class:`PNGFormatError`.
"""

import struct
import threading
from typing import Optional

import cv2
import numpy as np

from ..utils.errors import UserError

try:
    from pywuffs import ImageDecoderType, PixelFormat
    from pywuffs.aux import ImageDecoder, ImageDecoderConfig
except ImportError:  # optional: OpenCV decodes instead
    ImageDecoder = None

__all__ = ["DECODERS", "PNGFormatError", "decode_rgb_png", "default_decoder"]

DECODERS = ("wuffs", "opencv")
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPES = {0: "grey", 2: "RGB", 3: "palette", 4: "grey + alpha", 6: "RGBA"}
_local = threading.local()  # Wuffs decoders, one per thread and byte order, never shared


class PNGFormatError(UserError):
    """A file that is not an 8-bit RGB (or palette) PNG: ``path`` and what is wrong, ``reason``
    (callers add the format they expected)."""

    def __init__(self, path: str, reason: str):
        super().__init__(path, reason)  # both in args: the error pickles across processes
        self.path, self.reason = path, reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}, expected an 8-bit RGB PNG"


def default_decoder() -> str:
    """``"wuffs"`` when pywuffs is installed, else ``"opencv"``."""
    return "opencv" if ImageDecoder is None else "wuffs"


def decode_rgb_png(path: str, order: str = "rgb", decoder: Optional[str] = None) -> np.ndarray:
    """HxW uint32 of an 8-bit RGB PNG: ``R + 256·G + 65536·B`` for ``order="rgb"`` (panoptic ids),
    ``R·65536 + G·256 + B`` for ``order="bgr"`` (KITTI-STEP's class/instance packing).

    ``decoder``: one of :data:`DECODERS` (default :func:`default_decoder`).
    """
    if order not in ("rgb", "bgr"):
        raise ValueError(f"order must be 'rgb' or 'bgr', got {order!r}")
    decoder = decoder or default_decoder()
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise PNGFormatError(path, "file not found") from None
    except OSError as e:  # a folder, no permission
        raise PNGFormatError(path, f"cannot read it ({e.strerror})") from None
    _check_header(data, path)
    if decoder == "wuffs" and _has_transparency(data):
        decoder = "opencv"  # Wuffs would blank the transparent colour's pixels
    if decoder == "wuffs":
        pixels = _decode_wuffs(data, path, order)
    elif decoder == "opencv":
        pixels = _decode_opencv(data, path, order)
    else:
        raise ValueError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    ids = pixels.view(np.uint32)[..., 0]  # little-endian 4-byte pixels
    np.bitwise_and(ids, 0xFFFFFF, out=ids)  # drop the alpha byte
    return ids


def _check_header(data: bytes, path: str) -> None:
    """Accept 8-bit RGB or palette PNGs only, from the IHDR chunk (always the first)."""
    if len(data) < 33 or data[:8] != _SIGNATURE or data[12:16] != b"IHDR":
        raise PNGFormatError(path, "not a PNG file")
    depth, colour = struct.unpack(">BB", data[24:26])
    if not (colour == 2 and depth == 8 or colour == 3):  # a palette of any depth: 8-bit colours
        kind = _COLOUR_TYPES.get(colour, f"colour type {colour}")
        article = "an" if depth == 8 else "a"
        raise PNGFormatError(path, f"{article} {depth}-bit {kind} PNG")


def _has_transparency(data: bytes) -> bool:
    """Whether a tRNS chunk (a transparent colour, or palette alpha) precedes the image data."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"tRNS":
            return True
        if kind == b"IDAT":
            return False
        pos += length + 12  # length, type, data, CRC
    return False


def _decode_wuffs(data: bytes, path: str, order: str) -> np.ndarray:
    decoders = getattr(_local, "decoders", None)
    if decoders is None:
        decoders = _local.decoders = {}
    if order not in decoders:
        config = ImageDecoderConfig()
        config.enabled_decoders = [ImageDecoderType.PNG]
        # 4 bytes a pixel, as stored (alpha, always opaque here, is dropped afterwards)
        config.pixel_format = (
            PixelFormat.RGBA_NONPREMUL if order == "rgb" else PixelFormat.BGRA_NONPREMUL
        )
        decoders[order] = ImageDecoder(config)
    result = decoders[order].decode(data)
    if result.error_message:  # partial results (a truncated file) are refused too
        raise PNGFormatError(path, f"cannot decode it ({result.error_message})")
    return result.pixbuf


def _decode_opencv(data: bytes, path: str, order: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise PNGFormatError(path, "cannot decode it")
    code = {
        (3, "rgb"): cv2.COLOR_BGR2RGBA,
        (3, "bgr"): cv2.COLOR_BGR2BGRA,
        (4, "rgb"): cv2.COLOR_BGRA2RGBA,
    }.get((image.shape[2], order))
    return image if code is None else cv2.cvtColor(image, code)
