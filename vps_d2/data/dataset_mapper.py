"""Video dataset mapper: one video dict in, a training pair or a whole test video out.

Training (paper §V-D1, SPEC §4):
  1. draw a target frame among the annotated frames and a reference frame (``frame_sampler``);
  2. read both images and panoptic PNGs;
  3. sample ONE augmentation (resize, crop, flip) on the target and apply the same transforms to
     both frames and their labels;
  4. build per-frame targets: ``Instances`` (boxes, classes, masks, ``gt_ids`` = segment ids, shared
     by the two frames), the semantic target and the panoptic target;
  5. with fusion on, for each frame of the pair the raw frame ``fuse_gap`` before it (the frame it is
     fused with, as at test: issue 22), through the same transforms;
  6. optionally the initial DIS flow of the pair in both directions and of each frame to the frame
     it is fused with (``MODEL.FLOW.IN_LOADER``);
  7. optionally each fused frame's ground-truth flow through the same transforms, the target of the
     refined flow's loss (``MODEL.FUSE.FLOW_LOSS_WEIGHT``; a synthetic split prepared with --flow).

Testing: every frame of the video in temporal order, with which ones are annotated. Images are read
when a frame is accessed (:class:`VideoFrames`), so a long video never sits in memory whole.
"""
import copy
import logging
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
from detectron2.config import configurable
from detectron2.data import MetadataCatalog
from detectron2.data import detection_utils as utils
from detectron2.data import transforms as T
from detectron2.structures import BitMasks, Boxes, Instances

from ..utils.errors import UserError
from .categories import category_maps
from .flow import dis_flow, downscale_flow, flow_size
from .frame_sampler import sample_reference, sample_target
from .panoptic_io import read_panoptic_png

logger = logging.getLogger(__name__)

__all__ = ["VideoPanopticDatasetMapper", "VideoFrames", "panoptic_targets"]

PANOPTIC_IGNORE = -1  # ignore value of the panoptic target (any instance count fits below it)


def _index_map(ids: np.ndarray):
    """Segment ids -> (dense index map that transforms can resize with nearest, the id table)."""
    table, inverse = np.unique(ids, return_inverse=True)
    dtype = np.uint8 if len(table) <= 256 else np.float32  # float32 is exact for < 2**24 labels
    return inverse.reshape(ids.shape).astype(dtype), table


def read_frame(path: str, image_format: str) -> np.ndarray:
    """detectron2's ``read_image``, with one clear line for a missing or unreadable frame (SPEC §8)."""
    try:
        return utils.read_image(path, format=image_format)
    except FileNotFoundError as e:
        raise UserError(
            f"{path}: no such frame, expected every frame of the split's im_all_info JSON"
        ) from e
    except (OSError, SyntaxError) as e:
        raise UserError(f"{path}: cannot read the frame ({e}), expected a PNG or JPEG image") from e


def read_segments(path: str, segments_info: List[Dict]) -> np.ndarray:
    """Read a panoptic PNG and check it against its segments_info (every non-zero id is listed)."""
    ids = read_panoptic_png(path)
    listed = {s["id"] for s in segments_info}
    unknown = sorted(set(np.unique(ids).tolist()) - listed - {0})
    if unknown:
        raise UserError(
            f"{path}: segment id {unknown[0]} is in the PNG but not in the JSON segments_info "
            f"({len(unknown)} such id(s))"
        )
    return ids


def panoptic_targets(
    ids: np.ndarray,
    segments_info: List[Dict],
    semantic_to_thing: Dict[int, int],
    semantic_to_stuff: Dict[int, int],
    ignore_label: int,
):
    """Training targets of one frame from its (augmented) segment-id map.

    Returns:
        instances_fields: dict of numpy arrays ``boxes`` (K, 4) XYXY, ``classes`` (K,) thing ids,
            ``masks`` (K, H, W) bool, ``ids`` (K,) segment ids; non-crowd things with pixels left.
        sem_seg: (H, W) int64 semantic class, ``ignore_label`` on void.
        pan_seg: (H, W) int64 panoptic target in UPSNet form: a stuff pixel holds its stuff index
            s < S, a pixel of instance k holds S + k, void and crowd hold ``PANOPTIC_IGNORE``.
    """
    h, w = ids.shape
    sem_seg = np.full((h, w), ignore_label, np.int64)
    pan_seg = np.full((h, w), PANOPTIC_IGNORE, np.int64)
    num_stuff = len(semantic_to_stuff)
    boxes, classes, masks, seg_ids = [], [], [], []
    for seg in segments_info:
        mask = ids == seg["id"]
        if not mask.any():
            continue
        sem_seg[mask] = seg["category_id"]
        if not seg["isthing"]:
            pan_seg[mask] = semantic_to_stuff[seg["category_id"]]
        elif not seg.get("iscrowd", 0):
            ys, xs = np.nonzero(mask)
            pan_seg[mask] = num_stuff + len(masks)
            boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            classes.append(semantic_to_thing[seg["category_id"]])
            masks.append(mask)
            seg_ids.append(seg["id"])
    fields = {
        "boxes": np.asarray(boxes, np.float32).reshape(-1, 4),
        "classes": np.asarray(classes, np.int64),
        "masks": np.stack(masks) if masks else np.zeros((0, h, w), bool),
        "ids": np.asarray(seg_ids, np.int64),
    }
    return fields, sem_seg, pan_seg


def flow_loss_on(cfg) -> bool:
    """Whether the refined flow is supervised by the ground-truth flow (MODEL.FUSE.FLOW_LOSS_WEIGHT);
    its target is the flow to the predecessor, so it needs INPUT.VIDEO.FUSE_GAP 1 and the Align module."""
    if cfg.MODEL.FUSE.FLOW_LOSS_WEIGHT <= 0 or not cfg.MODEL.VPS.FUSE_ON:
        return False
    if cfg.INPUT.VIDEO.FUSE_GAP != 1 or not cfg.MODEL.FUSE.ALIGN_ON:
        raise UserError(
            f"MODEL.FUSE.FLOW_LOSS_WEIGHT {cfg.MODEL.FUSE.FLOW_LOSS_WEIGHT}: supervises the Align module's flow "
            "to the previous frame, expected INPUT.VIDEO.FUSE_GAP 1 and MODEL.FUSE.ALIGN_ON True (or a weight of 0)"
        )
    return True


def training_augmentations(cfg) -> List[T.Augmentation]:
    """The training augmentations of detectron2's keys: scale range, crop, flip (§V-D1)."""
    augs = [T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TRAIN, cfg.INPUT.MAX_SIZE_TRAIN, cfg.INPUT.MIN_SIZE_TRAIN_SAMPLING)]
    if cfg.INPUT.CROP.ENABLED:
        augs.append(T.RandomCrop(cfg.INPUT.CROP.TYPE, cfg.INPUT.CROP.SIZE))
    if cfg.INPUT.RANDOM_FLIP != "none":
        augs.append(T.RandomFlip(horizontal=cfg.INPUT.RANDOM_FLIP == "horizontal",
                                 vertical=cfg.INPUT.RANDOM_FLIP == "vertical"))
    return augs


def target_maps(meta) -> Dict[str, Dict[int, int]]:
    """``semantic_to_thing`` (semantic channel -> detector class) and ``semantic_to_stuff``
    (semantic channel -> stuff index) of a dataset's metadata, in either category convention
    (:func:`~vps_d2.data.categories.category_maps`)."""
    semantic, things = category_maps(meta)
    stuff_ids = [d for d in sorted(semantic, key=semantic.get) if d not in things]
    return {
        "semantic_to_thing": {semantic[d]: c for d, c in things.items()},
        "semantic_to_stuff": {semantic[d]: i for i, d in enumerate(stuff_ids)},
    }


def frame_training_fields(image: np.ndarray, id_map: np.ndarray, segments_info: List[Dict], maps: Dict,
                          ignore_label: int) -> Dict:
    """A training frame's model inputs from its augmented image and segment-id map: ``image``,
    ``height``/``width`` (the augmented size), ``instances``, ``sem_seg``, ``pan_seg``."""
    fields, sem_seg, pan_seg = panoptic_targets(
        id_map, segments_info, maps["semantic_to_thing"], maps["semantic_to_stuff"], ignore_label
    )
    return {
        "image": _to_chw_tensor(image),
        "height": image.shape[0],
        "width": image.shape[1],
        "instances": _instances(fields, image.shape[:2]),
        "sem_seg": torch.as_tensor(sem_seg),
        "pan_seg": torch.as_tensor(pan_seg),
    }


def transform_flow(flow: np.ndarray, transforms: T.TransformList) -> np.ndarray:
    """A flow (H, W, 2) in pixels through the frame's augmentations: resampled as an image, its
    vectors scaled by each resize and mirrored by each flip (NaN, where unknown, spreads to the
    resampled neighbours)."""
    flow = np.asarray(flow, np.float32)
    for t in transforms.transforms:
        flow = np.ascontiguousarray(t.apply_image(flow), dtype=np.float32)
        if isinstance(t, T.ResizeTransform):
            flow = flow * np.array([t.new_w / t.w, t.new_h / t.h], np.float32)
        elif isinstance(t, T.HFlipTransform):
            flow = flow * np.array([-1.0, 1.0], np.float32)
        elif isinstance(t, T.VFlipTransform):
            flow = flow * np.array([1.0, -1.0], np.float32)
        elif not isinstance(t, (T.CropTransform, T.NoOpTransform)):
            raise ValueError(f"transform_flow: {type(t).__name__} has no rule for flow vectors")
    return flow


def _instances(fields: Dict[str, np.ndarray], image_size) -> Instances:
    inst = Instances(image_size)
    inst.gt_boxes = Boxes(torch.as_tensor(fields["boxes"]))
    inst.gt_classes = torch.as_tensor(fields["classes"])
    inst.gt_masks = BitMasks(torch.as_tensor(fields["masks"]))
    inst.gt_ids = torch.as_tensor(fields["ids"])
    return inst


def _to_chw_tensor(image: np.ndarray) -> torch.Tensor:
    # A tensor (not an ndarray) so that DataLoader workers pass it through shared memory.
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))


class _Frame(dict):
    """A test frame dict whose lazy fields (``image``, and ``flow`` for the oracle) are computed only
    when used, so iterating a video for its metadata (e.g. in the evaluator) decodes nothing."""

    def __init__(self, fields: Dict, loaders: Dict):
        super().__init__(fields)
        self._loaders = loaders

    def __contains__(self, key) -> bool:
        return dict.__contains__(self, key) or key in self._loaders

    def __missing__(self, key):
        if key not in self._loaders:
            raise KeyError(key)
        self[key] = value = self._loaders[key]()
        return value


class VideoFrames(Sequence):
    """The frames of one test video; ``frames[i]`` is frame i, read when its image is used.

    Each frame is a dict: ``image`` (uint8 CHW tensor, resized for the model; loaded on first
    access), ``height``/``width`` (original size, the size outputs must have), ``file_name``,
    ``frame_id``, ``annotated``, ``image_id``, ``pan_seg_file_name`` and ``segments_info`` (the last
    three None if unannotated).
    """

    def __init__(self, video: Dict, augmentations: T.AugmentationList, image_format: str, oracle_flow: bool = False):
        self._video = video
        self._augmentations = augmentations
        self._image_format = image_format
        self._oracle_flow = oracle_flow

    def __len__(self) -> int:
        return len(self._video["file_names"])

    def _read(self, i: int) -> torch.Tensor:
        image = read_frame(self._video["file_names"][i], self._image_format)
        aug_input = T.AugInput(image)
        self._augmentations(aug_input)
        return _to_chw_tensor(aug_input.image)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} out of range for a video of {len(self)} frames")
        i %= len(self)
        v = self._video
        fields = {
            "height": v["height"],
            "width": v["width"],
            "file_name": v["file_names"][i],
            "frame_id": v["frame_ids"][i],
            "annotated": v["annotated"][i],
            "image_id": v["image_ids"][i],
            "pan_seg_file_name": v["pan_seg_file_names"][i],
            "segments_info": v["segments_infos"][i],
        }
        loaders = {"image": lambda: self._read(i)}
        if self._oracle_flow:
            frame = _Frame(fields, loaders)
            loaders["flow"] = lambda: self._oracle(i, frame["image"].shape[-2:])
            return frame
        return _Frame(fields, loaders)

    def _oracle(self, i: int, size) -> torch.Tensor:
        """Frame i's ground-truth flow to frame i - 1 as the fuse head's initial flow at the model
        input's ``size`` (zero for a first frame, which is fused with itself)."""
        height, width = flow_size(*size)
        if i == 0:
            return torch.zeros((2, height, width))
        path = self._video.get("flow_file_names", [None] * len(self))[i]
        if path is None:
            raise UserError(
                f"MODEL.FLOW.NAME oracle: frame {self._video['file_names'][i]} has no ground-truth flow, "
                "expected <split>/flow/*_flow.npy (prepare the synthetic split with --flow)"
            )
        flow = np.load(path)
        scale = size[1] / flow.shape[1]
        small = downscale_flow(flow)
        if small.shape[1:] != (height, width):
            small = cv2.resize(small.transpose(1, 2, 0), (width, height), interpolation=cv2.INTER_LINEAR)
            small = small.transpose(2, 0, 1) * scale
        return torch.as_tensor(np.ascontiguousarray(small, dtype=np.float32))


class VideoPanopticDatasetMapper:
    """Map a video dataset dict (``load_cityscapes_vps_json``) to model inputs.

    Training output::

        {"video_id": int,
         "frames": [target, reference],   # each: image (uint8 CHW), height, width (augmented size),
                                          #   instances (gt_boxes, gt_classes, gt_masks, gt_ids),
                                          #   sem_seg (int64 HxW, ignore_label on void),
                                          #   pan_seg (int64 HxW, see panoptic_targets),
                                          #   file_name, frame_id, frame_index (position in the video),
                                          #   with fuse_gap > 0: fuse_image (uint8 CHW, the raw frame
                                          #   fuse_gap before, itself for a first frame) and, if
                                          #   compute_flow, fuse_flow (frame->fuse_image)
         "flow": float32 (2, ceil(H/4), ceil(W/4)),           # target->reference, if compute_flow
         "flow_backward": float32 (2, ceil(H/4), ceil(W/4))}  # reference->target, if compute_flow

    Test output: ``{"video_id", "height", "width", "frames": VideoFrames}``.
    """

    @configurable
    def __init__(
        self,
        is_train: bool,
        *,
        augmentations: List,
        image_format: str,
        semantic_to_thing: Dict[int, int],
        semantic_to_stuff: Dict[int, int],
        ref_range: int = 5,
        ignore_label: int = 255,
        compute_flow: bool = False,
        fuse_gap: int = 0,
        pair_flow: bool = True,
        oracle_flow: bool = False,
        flow_target: bool = False,
    ):
        """
        Args:
            is_train: training pairs or whole test videos.
            augmentations: detectron2 augmentations; in training they are sampled once on the target
                frame and the resulting transforms applied to both frames.
            image_format: ``INPUT.FORMAT`` (e.g. "BGR").
            semantic_to_thing: semantic class -> detector class, for thing classes.
            semantic_to_stuff: semantic class -> stuff index (the panoptic target's stuff channels).
            ref_range: reference offset range R in raw frames (§V-D1).
            ignore_label: semantic ignore value.
            compute_flow: add the initial DIS flow of the pair (training).
            fuse_gap: raw frames between a training frame and the frame it is fused with; 0 = none
                (no fusion, or the target fused with the annotated reference).
            pair_flow: with compute_flow, also the flow between the target and the reference
                (``flow``, ``flow_backward``): needed when they are fused with each other.
            oracle_flow: give every test frame its ground-truth flow to the previous frame (``flow``,
                from the split's ``flow_file_names``) for ``MODEL.FLOW.NAME oracle``.
            flow_target: with fuse_gap 1, give every training frame its ground-truth flow to the
                frame it is fused with (``fuse_gt_flow``), the target of the refined flow's loss.
        """
        self.is_train = is_train
        self.augmentations = T.AugmentationList(augmentations)
        self.image_format = image_format
        self.semantic_to_thing = dict(semantic_to_thing)
        self.semantic_to_stuff = dict(semantic_to_stuff)
        self.ref_range = ref_range
        self.ignore_label = ignore_label
        self.compute_flow = compute_flow
        self.fuse_gap = fuse_gap
        self.pair_flow = pair_flow
        self.oracle_flow = oracle_flow
        self.flow_target = flow_target
        mode = "training" if is_train else "inference"
        logger.info(f"[VideoPanopticDatasetMapper] {mode} augmentations: {augmentations}")

    @classmethod
    def from_config(cls, cfg, is_train: bool = True, dataset_name: Optional[str] = None):
        if is_train:
            augs = training_augmentations(cfg)
        else:
            augs = [T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice")]
        name = dataset_name or (cfg.DATASETS.TRAIN[0] if is_train else cfg.DATASETS.TEST[0])
        meta = MetadataCatalog.get(name)
        fuse_gap = cfg.INPUT.VIDEO.FUSE_GAP if is_train and cfg.MODEL.VPS.FUSE_ON else 0
        return {
            "is_train": is_train,
            "augmentations": augs,
            "image_format": cfg.INPUT.FORMAT,
            **target_maps(meta),
            "ref_range": cfg.INPUT.VIDEO.REF_RANGE,
            "ignore_label": meta.ignore_label,
            "compute_flow": is_train and cfg.MODEL.FLOW.IN_LOADER and cfg.MODEL.FLOW.NAME == "dis",
            "fuse_gap": fuse_gap,
            "pair_flow": not fuse_gap or cfg.MODEL.FUSE.BIDIRECTIONAL,
            "oracle_flow": not is_train and cfg.MODEL.VPS.FUSE_ON and cfg.MODEL.FLOW.NAME == "oracle",
            "flow_target": bool(fuse_gap) and flow_loss_on(cfg),
        }

    def __call__(self, video: Dict) -> Dict:
        if not self.is_train:
            return {
                "video_id": video["video_id"],
                "height": video["height"],
                "width": video["width"],
                "frames": VideoFrames(copy.deepcopy(video), self.augmentations, self.image_format,
                                      self.oracle_flow),
            }
        return self._training_pair(video)

    def _flow_target(self, video: Dict, p: int, transforms, size) -> torch.Tensor:
        """Frame p's ground-truth flow to the raw frame before it (zero for a first frame, fused
        with itself) through the pair's augmentations, at the fuse head's 1/4 map, NaN where no
        pixel of a cell is visible in the previous frame: the target of MODEL.FUSE.FLOW_LOSS_WEIGHT."""
        if p == 0:
            return torch.zeros((2, *flow_size(*size)))
        path = video.get("flow_file_names", [None] * (p + 1))[p]
        if path is None:
            raise UserError(
                f"MODEL.FUSE.FLOW_LOSS_WEIGHT > 0: frame {video['file_names'][p]} has no ground-truth flow, "
                "expected <split>/flow/*_flow.npy (prepare the synthetic split with --flow) or a weight of 0"
            )
        flow = transform_flow(np.load(path), transforms)
        return torch.as_tensor(downscale_flow(flow, empty=np.nan))

    def _training_pair(self, video: Dict) -> Dict:
        rng = np.random  # detectron2 seeds numpy's global state per data-loader worker
        target = sample_target(video["annotated"], rng)
        numbers = [fid % 10000 for fid in video["frame_ids"]]
        reference = sample_reference(numbers, video["annotated"], target, self.ref_range, rng)
        positions = (target, reference)

        images = [read_frame(video["file_names"][p], self.image_format) for p in positions]
        segments = [video["segments_infos"][p] for p in positions]
        ids = [read_segments(video["pan_seg_file_names"][p], s) for p, s in zip(positions, segments)]
        for p, image, id_map in zip(positions, images, ids):
            utils.check_image_size({"file_name": video["file_names"][p], "height": id_map.shape[0],
                                    "width": id_map.shape[1]}, image)

        maps = {"semantic_to_thing": self.semantic_to_thing, "semantic_to_stuff": self.semantic_to_stuff}
        index_map, table = _index_map(ids[0])
        aug_input = T.AugInput(images[0], sem_seg=index_map)
        transforms = self.augmentations(aug_input)
        frames = []
        for k, p in enumerate(positions):
            if k == 0:
                image, index_map = aug_input.image, aug_input.sem_seg
            else:
                index_map, table = _index_map(ids[k])
                image = transforms.apply_image(images[k])
                index_map = transforms.apply_segmentation(index_map)
            id_map = table[np.asarray(index_map).astype(np.int64)]
            if self.fuse_gap:
                fuse_image = transforms.apply_image(read_frame(video["file_names"][max(0, p - self.fuse_gap)],
                                                               self.image_format))
                frames.append({"fuse_image": _to_chw_tensor(fuse_image)})
                if self.compute_flow:
                    frames[-1]["fuse_flow"] = torch.as_tensor(dis_flow(image, fuse_image))
                if self.flow_target:
                    frames[-1]["fuse_gt_flow"] = self._flow_target(video, p, transforms, image.shape[:2])
            else:
                frames.append({})
            frames[-1].update(frame_training_fields(image, id_map, segments[k], maps, self.ignore_label))
            frames[-1].update({"file_name": video["file_names"][p], "frame_id": video["frame_ids"][p], "frame_index": p})
        out = {"video_id": video["video_id"], "frames": frames}
        if self.compute_flow and self.pair_flow:
            target_img, ref_img = (f["image"].permute(1, 2, 0).numpy() for f in frames)
            out["flow"] = torch.as_tensor(dis_flow(target_img, ref_img))
            out["flow_backward"] = torch.as_tensor(dis_flow(ref_img, target_img))
        return out
