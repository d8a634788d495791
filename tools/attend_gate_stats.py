#!/usr/bin/env python
"""Distribution of the Attend gate tAtt (paper Eq. 2) over the pixels of real frames.

    python tools/attend_gate_stats.py --config-file configs/quick_schedules/tiny_vpsnet_pp_cpu.yaml \\
        --videos 2 [MODEL.WEIGHTS quickstart_output/train/model_final.pth]

Runs online inference on the first ``--videos`` videos of the config's test set and prints the
quantiles of the gate and the share of pixels where it is saturated (< 0.01 or > 0.99) or near 1
(> 0.95), at every FPN level that is fused. Without weights it shows the gate at initialisation: a
gate that is 1 everywhere (the paper's raw inner product) makes the Attend switch a no-op.
"""
import argparse
import sys

import vps_d2  # noqa: F401  (registers the model and the datasets)

import cv2
import numpy as np
import torch
from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog
from tqdm import tqdm

from vps_d2.config import add_vps_config, merge_user_config
from vps_d2.engine.predictor import VideoPanopticPredictor
from vps_d2.modeling.fuse.align_attend import AttendModule

QUANTILES = (0.01, 0.1, 0.5, 0.9, 0.99)


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config-file", required=True, metavar="FILE")
    p.add_argument("--videos", type=int, default=2, help="number of test videos to run (default 2)")
    p.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="config overrides: KEY VALUE ...")
    return p


def record_gates(model: torch.nn.Module) -> list:
    """Wrap every AttendModule.attention so that its outputs are appended to the returned list."""
    gates = []
    for module in model.modules():
        if isinstance(module, AttendModule) and module.embed is not None:
            attention = module.attention

            def recorded(f_t, f_aligned, _attention=attention):
                out = _attention(f_t, f_aligned)
                gates.append(out.detach().flatten().cpu())
                return out

            module.attention = recorded
    return gates


def summarize(values: torch.Tensor) -> str:
    q = np.quantile(values.numpy(), QUANTILES)
    qs = "  ".join(f"q{int(p * 100):02d}={v:.3f}" for p, v in zip(QUANTILES, q))
    return (
        f"{len(values)} gate values  mean={values.mean():.3f} std={values.std():.3f}  {qs}  "
        f"<0.01: {(values < 0.01).float().mean():.1%}  >0.99: {(values > 0.99).float().mean():.1%}  "
        f">0.95: {(values > 0.95).float().mean():.1%}"
    )


def main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    cfg = get_cfg()
    add_vps_config(cfg)
    merge_user_config(cfg, args.config_file, args.opts)
    cfg.freeze()
    predictor = VideoPanopticPredictor(cfg)
    gates = record_gates(predictor.model)
    videos = DatasetCatalog.get(cfg.DATASETS.TEST[0])[: args.videos]
    frames = sum(len(v["file_names"]) for v in videos)
    weights = cfg.MODEL.WEIGHTS or "initialisation"
    for video in tqdm(videos, desc="videos", unit="video"):
        predictor.reset()
        for file_name in video["file_names"]:
            predictor(cv2.imread(file_name))
    if not gates:
        print(f"attend_gate_stats.py: error: {args.config_file}: no Attend gate ran "
              "(MODEL.VPS.FUSE_ON and MODEL.FUSE.ATTEND_ON must be True)", file=sys.stderr)
        return 1
    print(f"Attend gate at {weights}, {frames} frames of {cfg.DATASETS.TEST[0]}:")
    print("  " + summarize(torch.cat(gates)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
