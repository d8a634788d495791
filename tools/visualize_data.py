#!/usr/bin/env python
"""Look at a video dataset: its ground truth, or what the training mapper feeds the model
(detectron2's tools/visualize_data.py, for videos).

    python tools/visualize_data.py --config-file configs/quick_schedules/tiny_vpsnet_pp_cpu.yaml \\
        --source annotation --output-dir vis/ [--dataset synthetic_vps_val] [--videos 2] [KEY VALUE ...]

--source annotation: every annotated frame of a video with its panoptic ground truth; --source
dataloader: --samples training pairs per video (target | reference, after sampling and
augmentation, as the mapper makes them). Colours by class, the same colour for the same object id
through a video, class and id written on each object. Writes DIR/<source>/<dataset>/<video>/*.png
and DIR/<source>/<dataset>/<video>.mp4.
"""
import argparse
import os
import sys

import vps_d2  # first: registers the datasets

import cv2
from detectron2.data import DatasetCatalog, MetadataCatalog
from tqdm import tqdm

from vps_d2.data import VideoPanopticDatasetMapper
from vps_d2.utils.data_visualizer import annotation_frames, training_pairs
from vps_d2.utils.cli import tool_config
from vps_d2.utils.errors import UserError
from vps_d2.utils.file_io import atomic_write_image
from vps_d2.utils.video_io import AtomicVideoWriter
from vps_d2.utils.video_visualizer import VideoPanopticVisualizer


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE", help="path to a config file")
    p.add_argument("--source", choices=["annotation", "dataloader"], required=True, help="what to draw")
    p.add_argument("--output-dir", required=True, metavar="DIR", help="where to write the images and videos")
    p.add_argument("--dataset", help="a registered dataset (default: the first of DATASETS.TRAIN)")
    p.add_argument("--videos", type=int, default=2, help="number of videos to draw (from the first)")
    p.add_argument("--samples", type=int, default=8, help="--source dataloader: training pairs per video")
    p.add_argument("--fps", type=float, default=4.0, help="frame rate of the written videos")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides: KEY VALUE ...")
    return p


def setup_cfg(args):
    return tool_config(args.config_file, args.opts)


def run(args) -> str:
    cfg = setup_cfg(args)
    name = args.dataset or cfg.DATASETS.TRAIN[0]
    if name not in DatasetCatalog.list() or MetadataCatalog.get(name).get("evaluator_type") != "vpq":
        raise UserError(f"--dataset {name}: not a registered video dataset, expected one of vps_d2's video datasets "
                        "(e.g. synthetic_vps_train, cityscapes_vps_val; see datasets/README.md)")
    videos = DatasetCatalog.get(name)[: args.videos]
    meta = MetadataCatalog.get(name)
    visualizer = VideoPanopticVisualizer(meta.stuff_classes, meta.stuff_colors)
    mapper = VideoPanopticDatasetMapper(cfg, is_train=True) if args.source == "dataloader" else None
    root = os.path.join(args.output_dir, args.source, name)
    images = 0
    for video in tqdm(videos, unit="video", desc="visualize_data"):
        folder = os.path.join(root, f"{video['video_id']:04d}")
        if mapper is None:
            frames = annotation_frames(video, visualizer)
        else:
            frames = training_pairs(mapper, video, args.samples, visualizer)
        writer, size = AtomicVideoWriter(f"{folder}.mp4", args.fps), None
        try:
            for frame_name, image in frames:
                atomic_write_image(os.path.join(folder, f"{frame_name}.png"), image[:, :, ::-1])
                size = size or (image.shape[1], image.shape[0])  # augmented pairs vary: one size per video
                writer.write(cv2.resize(image, size) if (image.shape[1], image.shape[0]) != size else image)
                images += 1
        finally:
            writer.close(success=size is not None)
    return f"{images} images of {len(videos)} videos of {name} -> {root}/ (and one .mp4 per video)"


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    try:
        print(run(args))
    except UserError as e:  # raised where input is checked; anything else is a bug: traceback
        print(f"visualize_data.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
