"""Register a video panoptic dataset in the project's format with one call (issue 24).

    from vps_d2.data.datasets import register_vps_dataset
    register_vps_dataset("my_videos_val", "data/im_all_info_val_city_vps.json",
                         panoptic_json="data/panoptic_gt_val_city_vps.json")

Nothing is read when a dataset is registered. Its categories (when not given) come from the
``categories`` of the panoptic JSON (else of the frame list) and its annotation stride from the
annotated frames' numbers, both read the first time a model, mapper or evaluator asks for them;
the frames are read when the dataset is loaded. Any problem is one :class:`UserError` naming the
file and the field. The command-line form (``DATASETS.REGISTER``, ``train_net.py --register``) is
:func:`register_from_spec`.
"""
import math
import os
import re
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Union

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.catalog import Metadata

from ...utils.errors import UserError
from ..categories import category_metadata
from .cityscapes_vps import (
    CATEGORY_KEYS,
    FRAME_ID_BASE,
    _read_json,
    _require,
    annotated_image_stem,
    load_cityscapes_vps_json,
    raw_frame_stem,
)

_STANDARD_NAME = re.compile(r"^im_all_info_(?P<split>.+)_city_vps\.json$")
# loader argument -> register_vps_dataset argument (named in errors)
_PATH_FIELDS = {"all_info_json": "frames_json", "image_root": "image_root", "panoptic_json": "panoptic_json",
                "panoptic_root": "gt_root"}
SPEC_FORMAT = "NAME=FRAMES_JSON,IMAGE_ROOT[,PANOPTIC_JSON,GT_ROOT[,CATEGORIES_JSON]]"


class LazyMetadata(Metadata):
    """detectron2 ``Metadata`` whose category keys and ``annotation_stride`` are read from the
    dataset's files the first time one of them is asked for."""

    def __getattr__(self, key):
        lazy = self.__dict__.get("_lazy_keys", ())
        if key in lazy:
            self.__dict__.update(_read_lazy_metadata(self.__dict__, lazy))
            self.__dict__["_lazy_keys"] = ()
            return self.__dict__[key]
        return super().__getattr__(key)


def _color(i: int) -> tuple:
    """A distinct colour for a category given without one."""
    return ((67 * i + 120) % 256, (151 * i + 60) % 256, (211 * i + 30) % 256)


def read_categories(source: Union[str, Sequence[Dict]], where: Optional[str] = None) -> List[Dict]:
    """The category table of a dataset: a list of ``{id, name, isthing[, color]}`` or a JSON file
    holding such a list (alone or under ``categories``); checked, colours added where missing."""
    if isinstance(source, str):
        where = source
        if not os.path.isfile(source):
            raise UserError(f"{source}: no such categories file")
        source = _read_json(source, "category list")
        if isinstance(source, dict):
            source = _require(source, "categories", where, "the file")
    where = where or "categories"
    if not isinstance(source, (list, tuple)) or not source:
        raise UserError(f"{where}: 'categories' is empty or not a list, expected [{{id, name, isthing}}, ...]")
    table = []
    for i, c in enumerate(source):
        for field in ("id", "name", "isthing"):
            if not isinstance(c, dict) or field not in c:
                raise UserError(f"{where}: categories[{i}] has no '{field}' field")
        table.append(dict(c, id=int(c["id"]), isthing=int(bool(c["isthing"])),
                          color=list(c.get("color") or _color(i))))
    ids = [c["id"] for c in table]
    if len(set(ids)) != len(ids):
        raise UserError(f"{where}: categories list id {next(i for i in ids if ids.count(i) > 1)} twice")
    return table


def infer_annotation_stride(frames_json: str, panoptic_json: Optional[str]) -> int:
    """λ: the greatest common divisor of the gaps between annotated frame numbers f within a video
    (1 without labels, or when no video has two annotated frames)."""
    if panoptic_json is None:
        return 1
    frames = _require(_read_json(frames_json, "list of all frames (im_all_info)"), "images", frames_json, "the file")
    number = {}
    for img in frames:
        for field in ("id", "file_name"):
            _require(img, field, frames_json, f"image {img.get('id', img)}")
        fid = int(img["id"])
        number[(fid // FRAME_ID_BASE, raw_frame_stem(img["file_name"]))] = fid % FRAME_ID_BASE
    pan = _read_json(panoptic_json, "panoptic ground truth")
    annotated = defaultdict(list)
    for img in _require(pan, "images", panoptic_json, "the file"):
        key = annotated_image_stem(str(_require(img, "id", panoptic_json, "an image entry")), panoptic_json)
        if key in number:
            annotated[key[0]].append(number[key])
    gaps = [b - a for fs in annotated.values() for a, b in zip(sorted(fs), sorted(fs)[1:])]
    return math.gcd(*gaps) if gaps else 1


def _read_lazy_metadata(meta: Dict, keys: Sequence[str]) -> Dict:
    out = {}
    if "annotation_stride" in keys:
        out["annotation_stride"] = infer_annotation_stride(meta["all_info_json"], meta["panoptic_json"])
    if "categories" in keys:
        source = meta["categories_file"]
        if source is None:  # from the panoptic JSON, else from the frame list
            for path in (meta["panoptic_json"], meta["all_info_json"]):
                if path is not None and "categories" in _read_json(path, "dataset file"):
                    source = path
                    break
            else:
                files = " or ".join(p for p in (meta["panoptic_json"], meta["all_info_json"]) if p)
                raise UserError(f"dataset '{meta['name']}': {files} has no 'categories' field; "
                                "give the categories to register_vps_dataset (categories=...)")
        out.update(category_metadata(read_categories(source)))
    return out


def _standard_folder(frames_json: str, sub: str) -> str:
    """``<root>/<split>/<sub>`` for ``<root>/im_all_info_<split>_city_vps.json``, else the
    frame list's folder."""
    root, base = os.path.split(os.path.abspath(frames_json))
    m = _STANDARD_NAME.match(base)
    return os.path.join(root, m.group("split"), sub) if m else root


def register_vps_dataset(
    name: str,
    frames_json: str,
    panoptic_json: Optional[str] = None,
    image_root: Optional[str] = None,
    gt_root: Optional[str] = None,
    categories: Union[None, str, Sequence[Dict]] = None,
    annotation_stride: Optional[int] = None,
    prepare_hint: Optional[str] = None,
    **metadata,
) -> None:
    """Register a video panoptic dataset in the project's format (datasets/README.md) as ``name``.

    Args:
        name: the name to use in ``DATASETS.TRAIN`` / ``DATASETS.TEST``.
        frames_json: the frame list (``im_all_info_<split>_city_vps.json`` or any name): every
            frame, ``{id = video*10000 + f, file_name, width, height}``.
        panoptic_json: the annotated frames (``panoptic_gt_<split>_city_vps.json``); None for
            videos without labels (inference and submission files only).
        image_root: folder of the frames; default ``<root>/<split>/img_all`` for a frame list named
            ``<root>/im_all_info_<split>_city_vps.json``, else the frame list's folder.
        gt_root: folder of the panoptic PNGs; default ``<root>/<split>/panoptic_video`` (standard
            name) or the panoptic JSON's folder.
        categories: None (the ``categories`` of the panoptic JSON, else of the frame list), a list
            of ``{id, name, isthing[, color]}``, or the path of a JSON file with that list.
        annotation_stride: λ, raw frames between annotated frames; None = inferred from the files.
        prepare_hint: command that creates the files, quoted when they are missing.
        metadata: extra metadata (e.g. ``vpq_excluded_category_ids``, ``vpq_min_gt_area``).

    Registering a name again replaces it.
    """
    if name in DatasetCatalog.list():
        DatasetCatalog.remove(name)
    if name in MetadataCatalog.list():
        MetadataCatalog.remove(name)
    paths = {
        "all_info_json": frames_json,
        "image_root": image_root or _standard_folder(frames_json, "img_all"),
        "panoptic_json": panoptic_json,
        "panoptic_root": None,
    }
    if panoptic_json is not None and gt_root is None:
        standard = _STANDARD_NAME.match(os.path.basename(frames_json))
        gt_root = _standard_folder(frames_json, "panoptic_video") if standard else \
            os.path.dirname(os.path.abspath(panoptic_json))
    if panoptic_json is not None:
        paths["panoptic_root"] = gt_root
    meta = LazyMetadata(name=name)
    MetadataCatalog[name] = meta

    def load():
        for key, field in _PATH_FIELDS.items():
            if paths[key] is None or os.path.exists(paths[key]):
                continue
            if prepare_hint:
                raise UserError(
                    f"dataset '{name}' is not prepared: {paths[key]} does not exist "
                    f"(DETECTRON2_DATASETS={os.environ.get('DETECTRON2_DATASETS', 'datasets')}). "
                    f"Prepare it with: {prepare_hint}"
                )
            raise UserError(f"dataset '{name}': {field} {paths[key]} does not exist")
        ids = {k: getattr(meta, k) for k in CATEGORY_KEYS if k.endswith("_to_contiguous_id")}
        return load_cityscapes_vps_json(meta=ids, **paths)

    DatasetCatalog.register(name, load)
    lazy = []
    if categories is None or isinstance(categories, str):
        lazy += CATEGORY_KEYS
    else:
        metadata.update(category_metadata(read_categories(categories, f"categories of '{name}'")))
    if annotation_stride is None:
        lazy.append("annotation_stride")
    else:
        metadata["annotation_stride"] = int(annotation_stride)
    categories_file = categories if isinstance(categories, str) else None
    meta.set(evaluator_type="vpq", ignore_label=255, label_divisor=1000, categories_file=categories_file,
             **paths, **metadata)
    meta.set(_lazy_keys=tuple(k for k in lazy if k not in metadata))  # last: set() reads every key


def register_from_spec(spec: str, key: str = "DATASETS.REGISTER") -> str:
    """Register the dataset of one command-line spec, ``NAME=FRAMES_JSON,IMAGE_ROOT[,PANOPTIC_JSON,
    GT_ROOT[,CATEGORIES_JSON]]`` (empty fields take their defaults); returns NAME."""
    name, sep, rest = spec.partition("=")
    fields = [f.strip() or None for f in rest.split(",")] if sep else []
    if not name.strip() or not fields or not fields[0] or len(fields) > 5:
        raise UserError(f"{key}: '{spec}' is not of the form {SPEC_FORMAT}")
    fields += [None] * (5 - len(fields))
    frames_json, image_root, panoptic_json, gt_root, categories = fields
    if gt_root is not None and panoptic_json is None:
        raise UserError(f"{key}: '{spec}' gives GT_ROOT without PANOPTIC_JSON")
    for field, path in (("FRAMES_JSON", frames_json), ("PANOPTIC_JSON", panoptic_json),
                        ("CATEGORIES_JSON", categories)):
        if path is not None and not os.path.isfile(path):
            raise UserError(f"{key}: {field} {path} of '{name}': no such file")
    register_vps_dataset(name.strip(), frames_json, panoptic_json, image_root, gt_root, categories)
    return name.strip()


def register_from_config(cfg) -> List[str]:
    """Register every dataset listed in ``cfg.DATASETS.REGISTER``; returns their names."""
    return [register_from_spec(spec) for spec in cfg.DATASETS.REGISTER]
