"""The detectron2 trainer of vps_d2: video data loaders and the VPQ evaluator, nothing copied.

Optimizer, LR schedule, AMP (``SOLVER.AMP.ENABLED``), gradient clipping, checkpointing, resuming and
the NaN-loss check are detectron2's ``DefaultTrainer``'s.
"""
from detectron2.data import MetadataCatalog, build_detection_test_loader, build_detection_train_loader
from detectron2.engine import DefaultTrainer

from ..data import VideoPanopticDatasetMapper


class VPSTrainer(DefaultTrainer):
    """``DefaultTrainer`` with video-pair training batches and per-video test loading."""

    @classmethod
    def build_train_loader(cls, cfg):
        # One dataset dict per video; the mapper draws a target/reference pair from it.
        return build_detection_train_loader(cfg, mapper=VideoPanopticDatasetMapper(cfg, is_train=True))

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        # One dict per video, so detectron2's InferenceSampler shards whole videos across ranks and an
        # online tracker never loses its state in the middle of a video.
        mapper = VideoPanopticDatasetMapper(cfg, is_train=False, dataset_name=dataset_name)
        return build_detection_test_loader(cfg, dataset_name, mapper=mapper)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_folder=None):
        from ..evaluation import build_vps_evaluator

        evaluator_type = MetadataCatalog.get(dataset_name).evaluator_type
        if evaluator_type != "vpq":
            raise NotImplementedError(f"no evaluator for evaluator_type '{evaluator_type}' of dataset '{dataset_name}'")
        return build_vps_evaluator(cfg, dataset_name, output_folder)
