"""Streaming frame sources (video file, frame folder, glob, webcam) and atomic video output."""
import glob
import os
from dataclasses import dataclass
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

from .errors import UserError
from .file_io import atomic_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


class InputError(UserError):
    """A user input that cannot be read (one line, shown without a traceback)."""


@dataclass
class FrameSource:
    """Frames of one video, read one at a time: ``for name, frame_bgr in source``."""

    kind: str  # "video" | "images" | "webcam"
    fps: float
    length: Optional[int]  # None for a webcam
    _video: Optional[str] = None
    _files: Optional[List[str]] = None
    _camera: int = 0

    def __iter__(self) -> Iterator[Tuple[str, np.ndarray]]:
        if self.kind == "images":
            for path in self._files:
                frame = cv2.imread(path, cv2.IMREAD_COLOR)
                if frame is None:
                    raise InputError(f"{path}: cannot read the frame, expected a {'/'.join(IMAGE_EXTENSIONS)} image")
                yield os.path.splitext(os.path.basename(path))[0], frame
            return
        cap = cv2.VideoCapture(self._camera if self.kind == "webcam" else self._video)
        try:
            index = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                yield f"{index:06d}", frame
                index += 1
        finally:
            cap.release()


def open_frames(spec: Optional[str], webcam: bool = False, fps: float = 17.0) -> FrameSource:
    """Open ``spec`` (a video file, a folder of frames or a quoted glob) or the webcam.

    Frame folders and globs are sorted by name and played at ``fps`` (Cityscapes: 17 Hz).
    """
    if webcam:
        cap = cv2.VideoCapture(0)
        ok = cap.isOpened()
        rate = cap.get(cv2.CAP_PROP_FPS) or fps
        cap.release()
        if not ok:
            raise InputError("--webcam: no camera could be opened")
        return FrameSource("webcam", rate, None)
    if spec is None:
        raise InputError("--input: give a video file, a frame folder or a glob (or --webcam)")
    if os.path.isdir(spec):
        files = sorted(f for f in glob.glob(os.path.join(spec, "*")) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise InputError(f"--input {spec}: folder has no {'/'.join(IMAGE_EXTENSIONS)} frames")
        return FrameSource("images", fps, len(files), _files=files)
    if any(c in spec for c in "*?["):
        files = sorted(f for f in glob.glob(spec) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise InputError(f"--input {spec}: the pattern matches no image")
        return FrameSource("images", fps, len(files), _files=files)
    if not os.path.isfile(spec):
        raise InputError(f"--input {spec}: no such file or folder")
    cap = cv2.VideoCapture(spec)
    ok, _ = cap.read()
    rate, count = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    if not ok:
        raise InputError(f"--input {spec}: cannot decode it as a video")
    return FrameSource("video", rate if rate and rate > 0 else fps, count if count > 0 else None, _video=spec)


class AtomicVideoWriter:
    """mp4 writer that only creates ``path`` when :meth:`close` is called after success."""

    def __init__(self, path: str, fps: float):
        self.path, self.fps = path, fps
        self._ctx = atomic_path(path)
        try:
            self._tmp = self._ctx.__enter__()
        except OSError as e:
            raise InputError(f"--output {path}: cannot write there ({e.strerror}: {e.filename}), "
                             "expected a writable location") from None
        self._writer = None

    def write(self, frame_bgr: np.ndarray) -> None:
        if self._writer is None:
            h, w = frame_bgr.shape[:2]
            self._writer = cv2.VideoWriter(self._tmp, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise InputError(f"--output {self.path}: cannot write a video there")
        self._writer.write(frame_bgr)

    def close(self, success: bool = True) -> None:
        if self._writer is not None:
            self._writer.release()
        if success and self._writer is not None:
            self._ctx.__exit__(None, None, None)
        else:
            self._ctx.__exit__(InputError, InputError("aborted"), None)
