#!/usr/bin/env python
"""Video panoptic segmentation of a video file, a frame folder, a glob of frames, a camera or a
live stream.

    python demo/video_demo.py --config-file configs/vpsnet_pp.yaml --input clip.mp4 --output out.mp4 \
        --opts MODEL.WEIGHTS model_final.pth
    python demo/video_demo.py --config-file configs/vpsnet_pp.yaml --input rtsp://camera/stream \
        --output live.mp4 --opts MODEL.WEIGHTS model_final.pth

Frames are streamed (the video is never held in memory); every segment is coloured by its identity
(the same object keeps its colour through the video). Ctrl-C (or SIGTERM) stops after the current
frame with the output finalised (exit code 130); a second Ctrl-C aborts and writes no video.
See demo/README.md.
"""
import argparse
import contextlib
import os
import signal
import sys
import time

import vps_d2  # first: it also silences detectron2's import-time deprecation warnings

import cv2
from tqdm import tqdm

from detectron2.config import get_cfg
from vps_d2.config import merge_user_config
from vps_d2.data.datasets import register_from_config
from vps_d2.data.datasets.register import SPEC_FORMAT
from vps_d2.data.panoptic_io import write_panoptic_png
from vps_d2.engine.predictor import VideoPanopticPredictor
from vps_d2.utils.file_io import atomic_write_image, atomic_write_json
from vps_d2.evaluation.export import FORMATS, make_writer
from vps_d2.utils.errors import UserError
from vps_d2.utils.video_io import AtomicVideoWriter, InputError, open_frames
from vps_d2.utils.video_visualizer import VideoPanopticVisualizer


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE", help="path to a config file")
    p.add_argument("--input", help="a video file, a folder of frames, a quoted glob of frames, a camera "
                   "index (0) or device (/dev/video0), a stream URL (rtsp://, http://, ...) or a named pipe")
    p.add_argument("--webcam", action="store_true", help="read from the first camera (--input 0)")
    p.add_argument("--output", help="an .mp4 file for the overlay video, or a folder for one PNG per frame")
    p.add_argument("--save-panoptic", metavar="DIR", help="also save each frame's panoptic PNG and JSON here")
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="with --save-panoptic: write a benchmark's official submission layout "
                   "instead (the video is named after --input)")
    p.add_argument("--confidence-threshold", type=float, default=None, help="minimum detection score")
    p.add_argument("--fps", type=float, default=17.0,
                   help="frame rate of frame folders and globs, and of cameras and streams that report none")
    p.add_argument("--register", action="append", default=[], metavar="SPEC",
                   help=f"register a dataset of one's own for its class names: {SPEC_FORMAT} (then "
                   "--opts DATASETS.TEST '(\"NAME\",)')")
    p.add_argument("--exported", metavar="FILE", help="run an exported model (model.onnx or model.pt2 of "
                   "tools/export_model.py) instead of the eager one; its saved config is the model's")
    p.add_argument("--opts", default=[], nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    return p


def setup_cfg(args):
    cfg = get_cfg()
    vps_d2.add_vps_config(cfg)
    if not os.path.isfile(args.config_file):
        raise InputError(f"--config-file {args.config_file}: no such file")
    merge_user_config(cfg, args.config_file, args.opts)
    cfg.DATASETS.REGISTER += args.register
    register_from_config(cfg)
    if args.confidence_threshold is not None:
        cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = args.confidence_threshold
    if cfg.MODEL.WEIGHTS and not cfg.MODEL.WEIGHTS.startswith("detectron2://") and not os.path.isfile(cfg.MODEL.WEIGHTS):
        raise InputError(f"MODEL.WEIGHTS {cfg.MODEL.WEIGHTS}: no such file")
    cfg.freeze()
    return cfg


class StopRequest:
    """Turns the first Ctrl-C / SIGTERM into a request to stop after the current frame; the
    handlers are restored on exit, so a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.signal = None

    def __enter__(self):
        self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, _frame):
        self.signal = signum
        for s, old in self._old.items():
            signal.signal(s, old)

    def __exit__(self, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)


def run(args):
    """Run the demo; returns (summary line, exit code): 0, or 130 when stopped by Ctrl-C / SIGTERM."""
    cfg = setup_cfg(args)
    source = open_frames(args.input, args.webcam, args.fps)
    with contextlib.closing(source):
        return _run(args, cfg, source)


def _run(args, cfg, source):
    if args.exported:  # the exported graph with the eager model's flow, merge and tracker around it
        from vps_d2.export.runner import ExportedVideoPredictor

        predictor = ExportedVideoPredictor(args.exported)
    else:
        predictor = VideoPanopticPredictor(cfg)
    meta = predictor.metadata
    visualizer = VideoPanopticVisualizer(meta.stuff_classes, meta.stuff_colors)
    to_video = args.output is not None and args.output.lower().endswith((".mp4", ".avi", ".mov"))
    writer = AtomicVideoWriter(args.output, source.fps) if to_video else None
    if args.output and not to_video:
        os.makedirs(args.output, exist_ok=True)
    submission = None
    if args.save_panoptic and args.format:
        to_dataset = {c: d for d, c in meta.stuff_dataset_id_to_contiguous_id.items()}
        things = list(meta.thing_dataset_id_to_contiguous_id)
        submission = make_writer(args.format, args.save_panoptic, things)
        cityscapes = args.format == "cityscapes-vps"
        video = "0001" if cityscapes or source.kind == "camera" else _video_name(args.input)
    frames, ok, stop = 0, False, StopRequest()
    start = time.time()
    try:
        with stop:
            bar = tqdm(source, total=source.length, unit="frame", desc="video_demo")
            for name, frame in bar:
                ids, segments = predictor(frame)["panoptic_seg"]
                ids = ids.cpu().numpy()
                overlay = visualizer.draw(frame, ids, segments)
                if writer is not None:
                    writer.write(overlay)
                elif args.output:
                    atomic_write_image(os.path.join(args.output, f"{name}.png"), overlay[:, :, ::-1])
                if submission is not None:
                    cats = [(s["id"], to_dataset[s["category_id"]]) for s in segments]
                    frame_name = f"{video}_{frames + 1:04d}_{name}" if cityscapes else name
                    submission.add(video, frame_name, ids, cats)
                elif args.save_panoptic:
                    write_panoptic_png(os.path.join(args.save_panoptic, f"{name}.png"), ids)
                    atomic_write_json(os.path.join(args.save_panoptic, f"{name}.json"), {"segments_info": segments})
                if source.live and args.output is None and _show(overlay):
                    break
                frames += 1
                bar.set_postfix(fps=f"{frames / max(time.time() - start, 1e-9):.2f}")
                if stop.signal is not None:
                    break
        ok = frames > 0
        if not ok and stop.signal is None:
            raise InputError(f"--input {args.input}: no frame could be read")
    finally:
        if writer is not None:
            writer.close(success=ok)
    if submission is not None:
        submission.close()
    where = args.output or "(no --output)"
    elapsed = time.time() - start
    if stop.signal is not None:
        end = f"; stopped by {signal.Signals(stop.signal).name}"
    elif source.stopped_early:
        end = f"; the capture failed after {source.read} of {source.length} frames"
    else:
        end = "; end of stream" if source.live else ""
    return (f"{frames} frames at {source.fps:g} fps -> {where} ({elapsed:.1f} s, "
            f"{frames / max(elapsed, 1e-9):.2f} frames/s{end})"), 130 if stop.signal is not None else 0


def _show(overlay) -> bool:
    """Show the overlay in a window; True when Esc or q is pressed."""
    try:
        cv2.imshow("vps_d2", overlay)
    except cv2.error:  # opencv-python-headless has no windows
        raise InputError("--output: none given, and this OpenCV cannot show a window (no GUI support, e.g. "
                         "opencv-python-headless); give --output out.mp4 or a folder") from None
    return cv2.waitKey(1) in (27, ord("q"))


def _video_name(spec: str) -> str:
    """A video's name in the submission layouts: the file or folder name of --input."""
    base = os.path.basename(os.path.normpath(spec.split("*")[0])) or "video"
    return os.path.splitext(base)[0]


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    try:
        summary, code = run(args)
    except UserError as e:  # raised where input is checked; anything else is a bug: traceback
        print(f"video_demo.py: error: {e}", file=sys.stderr)
        return 2
    print(summary)
    return code


if __name__ == "__main__":
    sys.exit(main())
