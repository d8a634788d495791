"""The scorer's PNG decoders (Wuffs and OpenCV) against the pixels that were written: every
way an 8-bit RGB PNG is commonly written (OpenCV at three compression levels, PIL, PIL
optimised, a 2-bit palette, transparency, Adam7 interlacing), both packings, and one-line
errors for everything else."""

import os
import pickle
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

import cv2
import numpy as np
from PIL import Image

from vps_d2.evaluation import png_io
from vps_d2.evaluation.png_io import PNGFormatError, decode_rgb_png

HAS_WUFFS = png_io.ImageDecoder is not None
DECODERS = ["opencv"] + (["wuffs"] if HAS_WUFFS else [])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_adam7_png(path: str, rgb: np.ndarray) -> None:
    """An interlaced RGB PNG written by hand (PNG spec §8.2: seven passes, filter 0 on each row)."""
    h, w = rgb.shape[:2]
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = rgb[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\0" + row.tobytes() for row in sub)
    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
                + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))


def packed(rgb: np.ndarray, order: str) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return r + 256 * g + 65536 * b if order == "rgb" else (r << 16) + (g << 8) + b


class TestDecodeRGBPNG(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        rng = np.random.default_rng(0)
        # regions of one colour (as in panoptic PNGs) next to noise, so rows use several filters
        self.rgb = np.repeat(rng.integers(0, 256, (37, 6, 3), dtype=np.uint8), 9, axis=1)[:, :53]
        self.rgb[20:] = rng.integers(0, 256, (17, 53, 3), dtype=np.uint8)

    def tearDown(self):
        import shutil

        shutil.rmtree(self.tmp)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def written(self):
        """(name, path, RGB pixels the file holds) for each way of writing it."""
        rgb = self.rgb
        out = []
        for level in (0, 1, 9):
            p = self.path(f"cv2_{level}.png")
            cv2.imwrite(p, rgb[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, level])
            out.append((f"OpenCV level {level}", p, rgb))
        for name, kw in (("PIL", {}), ("PIL optimised", {"optimize": True})):
            p = self.path(name.replace(" ", "_") + ".png")
            Image.fromarray(rgb).save(p, **kw)
            out.append((name, p, rgb))
        palette = np.array([[0, 0, 0], [220, 20, 60], [0, 0, 142], [107, 142, 35]], np.uint8)
        index = (np.arange(37 * 53).reshape(37, 53) // 97 % 4).astype(np.uint8)
        im = Image.fromarray(index, "P")
        im.putpalette(palette.ravel().tolist())
        im.save(self.path("palette.png"))
        out.append(("palette", self.path("palette.png"), palette[index]))
        im.save(self.path("palette_trns.png"), transparency=1)
        out.append(("palette with a transparent entry", self.path("palette_trns.png"),
                    palette[index]))
        colour = tuple(int(v) for v in rgb[0, 0])
        Image.fromarray(rgb).save(self.path("trns.png"), transparency=colour)
        out.append(("RGB with a transparent colour", self.path("trns.png"), rgb))
        write_adam7_png(self.path("adam7.png"), rgb)
        out.append(("Adam7 interlaced", self.path("adam7.png"), rgb))
        return out

    def test_every_writer_decodes_to_its_pixels(self):
        for name, p, rgb in self.written():
            for decoder in DECODERS:
                for order in ("rgb", "bgr"):
                    with self.subTest(writer=name, decoder=decoder, order=order):
                        ids = decode_rgb_png(p, order, decoder)
                        self.assertEqual(ids.dtype, np.uint32)
                        np.testing.assert_array_equal(ids, packed(rgb, order))

    def test_only_files_with_transparency_bypass_wuffs(self):
        for name, p, _ in self.written():
            with self.subTest(writer=name), open(p, "rb") as f:
                self.assertEqual(png_io._has_transparency(f.read()), "transparent" in name)

    def test_known_pixel_values(self):
        rgb = np.array([[[1, 2, 3], [255, 0, 0]], [[0, 255, 0], [0, 0, 255]]], np.uint8)
        Image.fromarray(rgb).save(self.path("four.png"))
        for decoder in DECODERS:
            with self.subTest(decoder=decoder):
                self.assertEqual(decode_rgb_png(self.path("four.png"), "rgb", decoder).tolist(),
                                 [[1 + 2 * 256 + 3 * 65536, 255], [255 * 256, 255 * 65536]])
                self.assertEqual(decode_rgb_png(self.path("four.png"), "bgr", decoder).tolist(),
                                 [[65536 + 2 * 256 + 3, 255 * 65536], [255 * 256, 255]])

    def test_other_pngs_and_files_are_refused_in_one_line(self):
        cv2.imwrite(self.path("grey.png"), self.rgb[..., 0])
        cv2.imwrite(self.path("rgba.png"), np.dstack([self.rgb, self.rgb[..., :1]]))
        cv2.imwrite(self.path("rgb16.png"), self.rgb.astype(np.uint16) * 257)
        Image.fromarray(self.rgb[..., :2], "LA").save(self.path("grey_alpha.png"))
        with open(self.path("text.png"), "w") as f:
            f.write("not an image\n")
        Image.fromarray(self.rgb).save(self.path("whole.png"))
        with open(self.path("whole.png"), "rb") as f:
            data = f.read()
        with open(self.path("truncated.png"), "wb") as f:
            f.write(data[: len(data) // 2])
        cases = {
            "grey.png": r"an 8-bit grey PNG, expected an 8-bit RGB PNG$",
            "rgba.png": r"an 8-bit RGBA PNG, expected",
            "rgb16.png": r"a 16-bit RGB PNG, expected",
            "grey_alpha.png": r"an 8-bit grey \+ alpha PNG, expected",
            "text.png": r"not a PNG file, expected",
            "truncated.png": r"cannot decode it.*, expected an 8-bit RGB PNG$",
            "missing.png": r"file not found, expected",
            "": r"cannot read it \(Is a directory\), expected",  # the temporary folder itself
        }
        for name, pattern in cases.items():
            for decoder in DECODERS:
                with self.subTest(file=name, decoder=decoder):
                    with self.assertRaises(PNGFormatError) as ctx:
                        decode_rgb_png(self.path(name), "rgb", decoder)
                    msg = str(ctx.exception)
                    self.assertTrue(msg.startswith(self.path(name) + ": "), msg)
                    self.assertRegex(msg, pattern)
                    self.assertNotIn("\n", msg)

    def test_error_survives_a_process_boundary(self):
        e = pickle.loads(pickle.dumps(PNGFormatError("a.png", "not a PNG file")))
        self.assertEqual((e.path, e.reason), ("a.png", "not a PNG file"))
        self.assertEqual(str(e), "a.png: not a PNG file, expected an 8-bit RGB PNG")

    def test_retained_memory_spares_the_page_faults_of_each_frame(self):
        """A 1024x2048 frame decoded 20 times: without retain_freed_memory() each decode maps
        its 8 MB buffers afresh (thousands of page faults); with it, the buffers are reused."""
        rng = np.random.default_rng(1)
        big = np.repeat(np.repeat(rng.integers(0, 256, (64, 128, 3), np.uint8), 16, 0), 16, 1)
        cv2.imwrite(self.path("big.png"), big)
        code = (
            "import resource, sys\n"
            "from vps_d2.evaluation.png_io import decode_rgb_png\n"
            "from vps_d2.evaluation.scoring import retain_freed_memory\n"
            "ok = retain_freed_memory() if sys.argv[2] == '1' else True\n"
            "decode_rgb_png(sys.argv[1])\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
            "for _ in range(20):\n"
            "    decode_rgb_png(sys.argv[1])\n"
            "print(ok, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
        )
        runs = {}
        for retain in ("0", "1"):
            out = subprocess.run([sys.executable, "-c", code, self.path("big.png"), retain],
                                 capture_output=True, text=True, check=True).stdout.split()
            runs[retain] = (out[0] == "True", int(out[1]))
        if not runs["1"][0]:
            self.skipTest("no glibc mallopt here")
        self.assertGreater(runs["0"][1], 20 * 1000, runs)  # about 2 x 2048 faults a decode
        self.assertLess(runs["1"][1], runs["0"][1] / 10, runs)

    @unittest.skipUnless(HAS_WUFFS, "pywuffs is not installed")
    def test_wuffs_is_the_default_when_installed(self):
        self.assertEqual(png_io.default_decoder(), "wuffs")


if __name__ == "__main__":
    unittest.main()
