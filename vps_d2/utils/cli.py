"""Small argparse helpers shared by the tools/ scripts."""
import argparse
import os
from typing import List, Optional, Sequence

from .errors import UserError


def tool_config(config_file: str, opts: Sequence[str], device: Optional[str] = None):
    """The frozen config of a tool: ``add_vps_config``, the file, then the trailing ``KEY VALUE``
    overrides; ``device`` overrides MODEL.DEVICE (e.g. "cpu" where the tool runs on the CPU)."""
    from detectron2.config import get_cfg

    from ..config import add_vps_config, merge_user_config

    if not os.path.isfile(config_file):
        raise UserError(f"--config-file {config_file}: no such file")
    cfg = get_cfg()
    add_vps_config(cfg)
    merge_user_config(cfg, config_file, list(opts))
    if device is not None:
        cfg.MODEL.DEVICE = device
    cfg.freeze()
    return cfg


def multi_choice_then_opts(args: argparse.Namespace, name: str, choices: Sequence[str]) -> None:
    """Split ``args.<name>`` (an ``nargs="+"`` option) into its leading values in ``choices`` and the
    rest, which are trailing config overrides (``KEY VALUE``) and go in front of ``args.opts``:
    ``--tasks flop parameter MODEL.WEIGHTS m.pth`` as detectron2's tools take it."""
    values: List[str] = getattr(args, name)
    k = next((i for i, v in enumerate(values) if v not in choices), len(values))
    if k == 0:
        raise SystemExit(f"error: argument --{name}: invalid choice {values[0]!r} (choose from {', '.join(choices)})")
    setattr(args, name, values[:k])
    args.opts = values[k:] + list(args.opts)
