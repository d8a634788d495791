"""The detectron2 trainer of vps_d2: video data loaders and the VPQ evaluator, nothing copied.

Optimizer, LR schedule, AMP (``SOLVER.AMP.ENABLED``), gradient clipping, checkpointing, resuming and
the NaN-loss check are detectron2's ``DefaultTrainer``'s.
"""
import os
import random
from unittest import mock

import numpy as np
import torch

import detectron2.engine.defaults as d2_defaults
import detectron2.utils.comm as comm
from detectron2.data import MetadataCatalog, build_detection_test_loader, build_detection_train_loader
from detectron2.data import get_detection_dataset_dicts
from detectron2.engine import DefaultTrainer, create_ddp_model

from ..data import VideoPanopticDatasetMapper
from ..data.image_mapper import ImagePanopticDatasetMapper
from ..data.samplers import ResumableTrainingSampler
from ..evaluation import VPQEvaluator
from ..utils.errors import UserError
from ..utils.file_io import atomic_write_json
from .checkpoint import VPSCheckpointer


def _create_ddp_model(model, **kwargs):
    """detectron2's ``create_ddp_model``, also for CPU models: DDP rejects ``device_ids`` for a
    module on the CPU, which detectron2 always passes (SPEC §9 "CPU DDP")."""
    if comm.get_world_size() > 1 and "device_ids" not in kwargs:
        if next(model.parameters()).device.type == "cpu":
            kwargs["device_ids"] = None
    return create_ddp_model(model, **kwargs)


TRAIN_MAPPERS = ("video_panoptic", "image_panoptic")


def build_train_mapper(cfg):
    """The training mapper ``INPUT.DATASET_MAPPER_NAME`` names: video pairs, or single images for
    a Base pre-trained on an image panoptic dataset (:class:`ImagePanopticDatasetMapper`)."""
    name = cfg.INPUT.DATASET_MAPPER_NAME
    if name == "video_panoptic":
        return VideoPanopticDatasetMapper(cfg, is_train=True)
    if name == "image_panoptic":
        return ImagePanopticDatasetMapper(cfg, is_train=True)
    raise UserError(f"INPUT.DATASET_MAPPER_NAME: '{name}' is not a training mapper, expected one of {list(TRAIN_MAPPERS)}")


class VPSTrainer(DefaultTrainer):
    """``DefaultTrainer`` with video-pair training batches and per-video test loading; it also
    trains with several CPU processes (gloo), e.g. for tests, and its checkpointer reports a missing
    or corrupt weights file in one line (:class:`VPSCheckpointer`)."""

    def __init__(self, cfg):
        with mock.patch.object(d2_defaults, "create_ddp_model", _create_ddp_model), \
                mock.patch.object(d2_defaults, "DetectionCheckpointer", VPSCheckpointer):
            super().__init__(cfg)

    @classmethod
    def build_train_loader(cls, cfg, start_iter: int = 0):
        """One dataset dict per video (the mapper draws a target/reference pair from it) or per
        image (``INPUT.DATASET_MAPPER_NAME image_panoptic``). The sampler's stream starts where
        iteration ``start_iter`` of the run would be."""
        dataset = get_detection_dataset_dicts(cfg.DATASETS.TRAIN, filter_empty=False)
        seed = cfg.SEED if cfg.SEED >= 0 else None
        sampler = ResumableTrainingSampler(len(dataset), seed=seed, start=start_iter * cfg.SOLVER.IMS_PER_BATCH)
        mapper = build_train_mapper(cfg)
        return build_detection_train_loader(cfg, dataset=dataset, mapper=mapper, sampler=sampler)

    def resume_or_load(self, resume: bool = True):
        """detectron2's resume, plus the data stream: it continues where the checkpoint stopped
        instead of restarting (with ``DATALOADER.NUM_WORKERS 0`` the random augmentation too, from
        the RNG states saved in the checkpoint; see :meth:`state_dict`). What the load took from the
        file and what the model initialised (e.g. the new heads of a variant fine-tuned from Base,
        paper §V-D1) goes to ``OUTPUT_DIR/weights_load_report.json``."""
        super().resume_or_load(resume=resume)
        report = self.checkpointer.load_report
        if report is not None and comm.is_main_process():
            atomic_write_json(os.path.join(self.cfg.OUTPUT_DIR, "weights_load_report.json"),
                              {"weights": self.checkpointer.load_path, **report})
        if self.start_iter > 0:
            self._trainer.data_loader = self.build_train_loader(self.cfg, start_iter=self.start_iter)
            # Making the loader's iterator draws a seed from torch's RNG; the uninterrupted run drew
            # it at iteration 0, so draw it now without moving the restored RNG.
            state = torch.get_rng_state()
            self._trainer._data_loader_iter_obj = iter(self._trainer.data_loader)
            torch.set_rng_state(state)

    def state_dict(self):
        """detectron2's trainer state plus the RNG states (plain types and tensors, so that
        ``torch.load(weights_only=True)`` accepts the checkpoint)."""
        state = super().state_dict()
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state["rng"] = {
            "python": random.getstate(),
            "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)},
            "torch": torch.get_rng_state(),
        }
        return state

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        rng = state_dict.get("rng")
        if rng is not None:
            random.setstate(rng["python"])
            n = rng["numpy"]
            np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
            torch.set_rng_state(rng["torch"])

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        # One dict per video, so detectron2's InferenceSampler shards whole videos across ranks and an
        # online tracker never loses its state in the middle of a video.
        mapper = VideoPanopticDatasetMapper(cfg, is_train=False, dataset_name=dataset_name)
        return build_detection_test_loader(cfg, dataset_name, mapper=mapper)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        meta = MetadataCatalog.get(dataset_name)
        evaluator_type = meta.get("evaluator_type", None)
        if evaluator_type != "vpq":
            raise NotImplementedError(f"no evaluator for evaluator_type '{evaluator_type}' of dataset '{dataset_name}'")
        return VPQEvaluator.from_config(cfg, dataset_name, output_folder or os.path.join(cfg.OUTPUT_DIR, "inference", dataset_name))
