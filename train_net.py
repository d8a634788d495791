#!/usr/bin/env python
"""Train or evaluate a vps_d2 model (detectron2's tools/train_net.py, thin; the trainer lives in
``vps_d2.engine``).

    python train_net.py --config-file configs/vpsnet_pp.yaml --num-gpus 8
    python train_net.py --config-file configs/vpsnet_pp.yaml --eval-only MODEL.WEIGHTS model.pth
"""
import logging

import detectron2.utils.comm as comm
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup, launch
from detectron2.evaluation import verify_results
from detectron2.utils.logger import setup_logger

import vps_d2
from vps_d2.engine import VPSTrainer


def setup(args):
    cfg = get_cfg()
    vps_d2.add_vps_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    cfg.freeze()
    default_setup(cfg, args)
    setup_logger(output=cfg.OUTPUT_DIR, distributed_rank=comm.get_rank(), name="vps_d2")
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        model = VPSTrainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=args.resume)
        results = VPSTrainer.test(cfg, model)
        if comm.is_main_process():
            verify_results(cfg, results)
        return results
    trainer = VPSTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def invoke_main() -> None:
    args = default_argument_parser().parse_args()
    logging.getLogger("vps_d2").info(f"Command line arguments: {args}")
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
           dist_url=args.dist_url, args=(args,))


if __name__ == "__main__":
    invoke_main()
