#!/usr/bin/env python
"""Train or evaluate a vps_d2 model (detectron2's tools/train_net.py, thin; the trainer lives in
``vps_d2.engine``).

    python train_net.py --config-file configs/vpsnet_pp.yaml --num-gpus 8
    python train_net.py --config-file configs/vpsnet_pp.yaml --eval-only MODEL.WEIGHTS model.pth
    python train_net.py --config-file configs/vpsnet_pp.yaml \
        --register my_train=data/im_all_info_train_city_vps.json,,data/panoptic_gt_train_city_vps.json \
        DATASETS.TRAIN '("my_train",)' MODEL.SEM_SEG_HEAD.NUM_CLASSES 3 MODEL.ROI_HEADS.NUM_CLASSES 1

``--register`` (or the config key ``DATASETS.REGISTER``) registers a dataset of one's own
(datasets/README.md "Your own videos").
"""
import logging
import os
import sys

import vps_d2  # first: it also silences detectron2's import-time deprecation warnings

import detectron2.utils.comm as comm
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results
from detectron2.utils.logger import setup_logger

from vps_d2.config import merge_user_config
from vps_d2.data.datasets import register_from_config
from vps_d2.data.datasets.register import SPEC_FORMAT
from vps_d2.engine import VPSCheckpointer, VPSTrainer
from vps_d2.utils.errors import UserError


def setup(args):
    cfg = get_cfg()
    vps_d2.add_vps_config(cfg)
    merge_user_config(cfg, args.config_file, args.opts)
    cfg.DATASETS.REGISTER += args.register
    register_from_config(cfg)
    cfg.freeze()
    default_setup(cfg, args)
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="vps_d2")
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = VPSTrainer.build_model(cfg)
        VPSCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = VPSTrainer.test(cfg, model)
        if comm.is_main_process():
            verify_results(cfg, results)
        return results
    trainer = VPSTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def get_parser():
    parser = default_argument_parser()
    parser.add_argument("--register", action="append", default=[], metavar="SPEC",
                        help=f"register a dataset of one's own: {SPEC_FORMAT} (repeatable; appended "
                        "to DATASETS.REGISTER)")
    return parser


def invoke_main() -> int:
    args = get_parser().parse_args()
    logging.getLogger("vps_d2").info(f"Command line arguments: {args}")
    if not os.path.isfile(args.config_file):
        print(f"train_net.py: error: --config-file {args.config_file}: no such file", file=sys.stderr)
        return 2
    try:
        launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
               dist_url=args.dist_url, args=(args,))
    except UserError as e:  # raised where input is checked; anything else is a bug: traceback
        if comm.get_world_size() > 1:
            raise
        print(f"train_net.py: error: {user_message(e)}", file=sys.stderr)
        return 2
    return 0


def user_message(e: Exception) -> str:
    """The one-line message of a user error. torch re-raises an error of a DataLoader worker with
    the worker's traceback in its message; the original message is that traceback's last line."""
    text = str(e)
    if "\nOriginal Traceback" in text:
        text = text.rstrip().splitlines()[-1].split(": ", 1)[-1]
    return text


if __name__ == "__main__":
    sys.exit(invoke_main())
