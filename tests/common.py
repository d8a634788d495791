"""Shared test helpers: small synthetic datasets in temporary folders, config loading."""
import contextlib
import importlib.util
import os
import shutil
import tempfile

from detectron2.config import get_cfg
from detectron2.data import DatasetCatalog, MetadataCatalog

from vps_d2.config import add_vps_config
from vps_d2.data.categories import CITYSCAPES_VPS_CATEGORIES, category_metadata
from vps_d2.data.datasets.cityscapes_vps import register_cityscapes_vps
from vps_d2.data.synthetic import write_synthetic_split

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "configs")

# Small but complete: 3 videos x 10 frames (2 annotated each) at 64x128.
SMALL = dict(videos=3, frames=10, stride=5, height=64, width=128, seed=0)


def write_small_synthetic(root: str, split: str = "train", **overrides) -> dict:
    return write_synthetic_split(root, split, **dict(SMALL, **overrides))


def load_script(relpath: str):
    """Import a script of the repository (e.g. ``benchmarks/ablation.py``) as a module."""
    path = os.path.join(REPO, relpath)
    spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def get_config(path: str = None):
    cfg = get_cfg()
    add_vps_config(cfg)
    if path:
        cfg.merge_from_file(path)
    return cfg


@contextlib.contextmanager
def registered_synthetic(name: str = "test_synthetic_vps", split: str = "train", **overrides):
    """Generate a small synthetic split in a temp dir and register it as ``name``."""
    root = tempfile.mkdtemp(prefix="vps_d2_test_")
    try:
        write_small_synthetic(root, split, **overrides)
        meta = dict(category_metadata(CITYSCAPES_VPS_CATEGORIES), annotation_stride=5)
        register_cityscapes_vps(name, root, split, meta, prepare_hint="(test data)")
        yield name, root
    finally:
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        shutil.rmtree(root, ignore_errors=True)
