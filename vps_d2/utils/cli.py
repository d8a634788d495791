"""Small argparse helpers shared by the tools/ scripts."""
import argparse
from typing import List, Sequence


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
