"""detectron2's checkpointer with one-line errors for a missing, unreadable or undownloadable weights
file (SPEC §8, §9 "Weights"): fvcore reports a missing file with an ``assert``, a corrupt one with
torch's or pickle's traceback and a failed download with urllib's. It also saves atomically and
says, module by module, which weights a load took from the file and which the model initialised
(paper §V-D1: a video variant imports the Base model and initialises only its new heads).
"""
import contextlib
import os
import pickle
from collections import Counter
from typing import Dict, Iterable, Iterator
from urllib.error import URLError

import detectron2.utils.comm as comm
import torch
from detectron2.checkpoint import DetectionCheckpointer

from ..utils.errors import UserError
from ..utils.file_io import atomic_path, atomic_write_bytes


class CheckpointError(UserError):
    """A weights file that is missing or is not a checkpoint; the message is one line."""


@contextlib.contextmanager
def checkpoint_read_errors(path: str) -> Iterator[None]:
    """Turn torch's / pickle's errors on a truncated or foreign file into :class:`CheckpointError`."""
    try:
        yield
    except (pickle.UnpicklingError, EOFError, RuntimeError, ValueError) as e:
        reason = " ".join(str(e).split()).split(". ")[0] or type(e).__name__
        raise CheckpointError(
            f"{path}: cannot read it as a checkpoint ({reason}), expected a file saved by "
            "detectron2 or torch.save (.pth) or a detectron2 .pkl"
        ) from e


def module_of(key: str) -> str:
    """The module a state-dict key belongs to, two levels deep (``roi_heads.track_head``)."""
    return ".".join(key.split(".")[:-1][:2]) or key


def weights_load_report(model_keys: Iterable[str], incompatible) -> Dict[str, Dict[str, int]]:
    """Tensors per module: ``loaded`` from the checkpoint, ``initialised`` by the model (not in the
    checkpoint, or with another shape there) and ``unused`` (in the checkpoint, not in the model)."""
    not_loaded = set(incompatible.missing_keys) | {k for k, *_ in incompatible.incorrect_shapes}
    model_keys = list(model_keys)
    return {
        "loaded": _tensors_per_module(k for k in model_keys if k not in not_loaded),
        "initialised": _tensors_per_module(k for k in model_keys if k in not_loaded),
        "unused": _tensors_per_module(incompatible.unexpected_keys),
    }


def _tensors_per_module(keys: Iterable[str]) -> Dict[str, int]:
    return dict(sorted(Counter(module_of(k) for k in keys).items()))


def format_load_report(path: str, report: Dict[str, Dict[str, int]]) -> str:
    def modules(part):
        return ", ".join(f"{m} ({n})" for m, n in report[part].items()) or "none"

    return (f"weights from {path}: {sum(report['loaded'].values())} tensors loaded; initialised here, not "
            f"taken from it: {modules('initialised')}; in it but unused: {modules('unused')}")


class VPSCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` whose missing ``MODEL.WEIGHTS`` or unreadable checkpoint raises a
    :class:`CheckpointError` naming the file, and whose checkpoints and ``last_checkpoint`` tag are
    written to a temporary name and renamed (SPEC §8): a run killed while saving never leaves a
    truncated checkpoint for ``--resume`` to pick up. After a load of ``load_path``, ``load_report`` holds
    :func:`weights_load_report` of it, also logged in one line."""

    load_report = None
    load_path = ""

    def save(self, name: str, **kwargs) -> None:
        """As fvcore's ``Checkpointer.save`` (model, checkpointables, extra data), written atomically."""
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        basename = f"{name}.pth"
        path = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {path}")
        with atomic_path(path) as tmp:
            torch.save(data, tmp)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        atomic_write_bytes(os.path.join(self.save_dir, "last_checkpoint"), last_filename_basename.encode())

    def resume_or_load(self, path: str, *, resume: bool = True):
        """As detectron2's; ``path`` (``MODEL.WEIGHTS``) is checked when it is the file to load,
        on the main process (detectron2 lets other ranks lack it) and unless it is a URL."""
        loads_path = path and not (resume and self.has_checkpoint()) and comm.is_main_process()
        if loads_path and "://" not in path and not os.path.isfile(path):
            raise CheckpointError(f"MODEL.WEIGHTS {path}: no such file, expected a checkpoint (.pth or .pkl)")
        return super().resume_or_load(path, resume=resume)

    def load(self, path: str, *args, **kwargs):
        """As detectron2's; a URL that cannot be downloaded (e.g. offline) is one line too."""
        self.load_path = path
        try:
            return super().load(path, *args, **kwargs)
        except URLError as e:
            raise CheckpointError(
                f"MODEL.WEIGHTS {path}: cannot download it ({e.reason}), expected a reachable URL "
                "or a local checkpoint file"
            ) from e

    def _load_file(self, filename: str):
        with checkpoint_read_errors(filename):
            return super()._load_file(filename)

    def _load_model(self, checkpoint):
        incompatible = super()._load_model(checkpoint)
        self.load_report = weights_load_report(self.model.state_dict().keys(), incompatible)
        return incompatible

    def _log_incompatible_keys(self, incompatible) -> None:
        super()._log_incompatible_keys(incompatible)
        self.logger.info(format_load_report(self.load_path, self.load_report))
