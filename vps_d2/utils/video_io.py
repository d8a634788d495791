"""Streaming frame sources (video file, frame folder, glob, camera, network stream or pipe) and
atomic video output."""
import glob
import os
import stat
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

from .errors import UserError
from .file_io import atomic_path

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")


class InputError(UserError):
    """A user input that cannot be read (one line, shown without a traceback)."""


class FrameSource:
    """Frames of one video or stream, read one at a time: ``for name, frame_bgr in source``.

    ``kind`` is "images" (a folder or glob), "video" (a file), "camera" (an index or a device path)
    or "stream" (a URL or a pipe that OpenCV's FFmpeg backend opens). ``live`` sources have no
    length. After the loop, :attr:`stopped_early` says whether a file ended before its frame count.
    """

    def __init__(self, kind: str, fps: float, length: Optional[int], files: Optional[List[str]] = None,
                 capture=None, first: Optional[np.ndarray] = None, spec: str = ""):
        self.kind, self.fps, self.length, self.spec = kind, fps, length, spec
        self.live = kind in ("camera", "stream")
        self.read = 0
        self._files, self._capture, self._first = files, capture, first

    @property
    def stopped_early(self) -> bool:
        return self.kind == "video" and self.length is not None and self.read < self.length

    def __iter__(self) -> Iterator[Tuple[str, np.ndarray]]:
        if self.kind == "images":
            for path in self._files:
                frame = cv2.imread(path, cv2.IMREAD_COLOR)
                if frame is None:
                    raise InputError(f"{path}: cannot read the frame, expected a {'/'.join(IMAGE_EXTENSIONS)} image")
                self.read += 1
                yield os.path.splitext(os.path.basename(path))[0], frame
            return
        try:
            frame, self._first = self._first, None
            while frame is not None:
                self.read += 1
                yield f"{self.read - 1:06d}", frame
                ok, frame = self._capture.read()
                if not ok:
                    frame = None
        finally:
            self.close()

    def close(self) -> None:
        """Release the camera or stream (also done when the loop ends)."""
        if self._capture is not None:
            self._capture.release()


def _open_capture(target, kind: str, what: str, fps: float) -> FrameSource:
    """Open a camera, stream or video file and read its first frame (a stream cannot be reopened)."""
    cap = cv2.VideoCapture(target, cv2.CAP_FFMPEG) if kind == "stream" else cv2.VideoCapture(target)
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok:
        cap.release()
        raise InputError(what)
    rate, count = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    # a camera or stream may report 0 or a nonsense rate: keep --fps then
    rate = rate if 0 < rate <= 240 else fps
    length = count if kind == "video" and count > 0 else None
    return FrameSource(kind, rate, length, capture=cap, first=first, spec=str(target))


def open_frames(spec: Optional[str], webcam: bool = False, fps: float = 17.0) -> FrameSource:
    """Open ``spec``: a video file, a folder of frames, a quoted glob, a camera index (``0``) or
    device (``/dev/video0``), a URL (``rtsp://``, ``http://``, ... as OpenCV's FFmpeg backend
    opens them) or a named pipe carrying a video stream; ``webcam`` is camera 0.

    Frame folders and globs are sorted by name and played at ``fps`` (Cityscapes: 17 Hz), as are
    cameras and streams that report no frame rate.
    """
    if webcam or (spec is not None and spec.isdigit()):
        index = 0 if webcam else int(spec)
        flag = "--webcam" if webcam else f"--input {spec}"
        return _open_capture(index, "camera", f"{flag}: camera {index} could not be opened or gave no frame", fps)
    if spec is None:
        raise InputError("--input: give a video file, a frame folder, a glob, a camera index or a URL (or --webcam)")
    if "://" in spec:
        return _open_capture(spec, "stream", f"--input {spec}: cannot open the stream or read a frame from it", fps)
    if os.path.isdir(spec):
        files = sorted(f for f in glob.glob(os.path.join(spec, "*")) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise InputError(f"--input {spec}: folder has no {'/'.join(IMAGE_EXTENSIONS)} frames")
        return FrameSource("images", fps, len(files), files=files)
    if any(c in spec for c in "*?["):
        files = sorted(f for f in glob.glob(spec) if f.lower().endswith(IMAGE_EXTENSIONS))
        if not files:
            raise InputError(f"--input {spec}: the pattern matches no image")
        return FrameSource("images", fps, len(files), files=files)
    if not os.path.exists(spec):
        raise InputError(f"--input {spec}: no such file or folder")
    if stat.S_ISCHR(os.stat(spec).st_mode):
        return _open_capture(spec, "camera", f"--input {spec}: cannot open the camera device or read a frame", fps)
    if stat.S_ISFIFO(os.stat(spec).st_mode):
        return _open_capture(spec, "stream", f"--input {spec}: cannot read a video stream from the pipe", fps)
    return _open_capture(spec, "video", f"--input {spec}: cannot decode it as a video", fps)


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
