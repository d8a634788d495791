"""Measurements of the temporal half against exact ground truth (issue 22).

* :func:`warp_diagnostics`: the flow warp and its conventions (previous annotated frame's labels
  warped by the chained ground-truth flow), and the end-point error at the fuse head's 1/4 scale
  of the zero, DIS and refined flows, at the test gap (1) and the annotation gap (5).
* :func:`fuse_diagnostics`: image PQ on degraded and clean frames with zero / DIS / ground-truth
  initial flow, how close the fused map of a degraded frame is to the clean rendering's, and the
  Attend gate on clean and degraded frames.
* :func:`tracking_oracle`: ground-truth detections, the model's embeddings pooled on them, and the
  tracker with one cue or all: STQ's association quality AQ and id switches.
"""
import math
import statistics
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from detectron2.structures import Boxes
from tqdm import tqdm

from ..data.flow import FLOW_STRIDE, chain_backward_flows, dis_flow, downscale_flow, flow_size
from ..data.synthetic_scene import THING_ID_DIVISOR
from ..evaluation.vpq import VideoCounter, summarize_vpq, vpq_video_stats
from ..layers.flow_warp import flow_warp_reference
from ..modeling.meta_arch.video_inference import VideoSession, build_tracker, inference_options
from ..modeling.meta_arch.vpsnet import FrameState
from ..tracking import AffinityWeights, Detections
from .scenarios import STRIDE, ScenarioVideo

NUM_CLASSES = 19  # the synthetic split's classes; stuff 0-10, things 11-18 (trainIds)
THING_BASE = 11


def _mean(values) -> float:
    values = [v for v in values if v == v]
    return float(statistics.fmean(values)) if values else float("nan")


def model_frame(image_rgb: np.ndarray, flow: Optional[np.ndarray] = None) -> Dict:
    """A test-mapper-like frame dict (BGR CHW uint8, the model's INPUT.FORMAT) for ``inference_step``."""
    frame = {"image": torch.as_tensor(np.ascontiguousarray(image_rgb[..., ::-1].transpose(2, 0, 1))),
             "height": image_rgb.shape[0], "width": image_rgb.shape[1]}
    if flow is not None:
        frame["flow"] = torch.as_tensor(flow)
    return frame


def gt_flow(video: ScenarioVideo, t: int, gap: int) -> np.ndarray:
    """Ground-truth flow frame t -> t - gap (H, W, 2), chained, NaN where not visible."""
    return chain_backward_flows([video.flows[t - i] for i in range(gap)])


def warp_labels(labels: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``labels`` (H, W) of the reference warped onto the target by the flow target->reference
    (H, W, 2), through the model's warp op (bilinear, align_corners=True) on one-hot maps."""
    values, index = np.unique(labels, return_inverse=True)
    onehot = F.one_hot(torch.as_tensor(index.reshape(labels.shape)), len(values)).permute(2, 0, 1)[None].float()
    flow_t = torch.as_tensor(np.nan_to_num(flow).transpose(2, 0, 1))[None].float()
    return values[flow_warp_reference(onehot, flow_t)[0].argmax(0).numpy()]


def _quarter(labels: np.ndarray) -> np.ndarray:
    """Labels at the 1/4 map's cells (the pixel at each cell's centre, as the features see it)."""
    return labels[FLOW_STRIDE // 2::FLOW_STRIDE, FLOW_STRIDE // 2::FLOW_STRIDE]


def _epe(estimate: np.ndarray, truth_full: np.ndarray, things: np.ndarray) -> Dict[str, float]:
    """End-point error (cells of the 1/4 map) on cells whose every pixel is visible, stuff/things."""
    truth = downscale_flow(truth_full)
    h, w = truth.shape[1:]
    pad = np.full((h * FLOW_STRIDE, w * FLOW_STRIDE), False)
    pad[: truth_full.shape[0], : truth_full.shape[1]] = np.isfinite(truth_full).all(-1)
    visible = pad.reshape(h, FLOW_STRIDE, w, FLOW_STRIDE).all(axis=(1, 3))
    err = np.sqrt(((estimate - truth) ** 2).sum(0))
    thing_cells = _quarter(things)[:h, :w]
    return {"stuff": float(err[visible & ~thing_cells].mean()) if (visible & ~thing_cells).any() else float("nan"),
            "things": float(err[visible & thing_cells].mean()) if (visible & thing_cells).any() else float("nan")}


@torch.no_grad()
def _gathered(model, image_rgb: np.ndarray) -> torch.Tensor:
    return model._pyramid(model.preprocess_image([model_frame(image_rgb)["image"]]))[1]


@torch.no_grad()
def warp_diagnostics(videos: List[ScenarioVideo], model=None) -> Dict:
    """Label accuracy of warps and flow end-point errors (see the module docstring)."""
    acc = {"gt_flow_label_accuracy": [], "label_accuracy_quarter": {"gt": [], "dis": [], "zero": [], "refined": []}}
    epe = {gap: {src: {"stuff": [], "things": []} for src in ("zero", "dis", "refined")} for gap in (1, STRIDE)}
    align = getattr(getattr(model, "fuse_head", None), "align", None)
    for video in tqdm(videos, desc="warp", unit="video", leave=False):
        for t in video.annotated():
            if t < STRIDE:
                continue
            truth = gt_flow(video, t, STRIDE)
            visible = np.isfinite(truth).all(-1)
            warped = warp_labels(video.labels[t - STRIDE], truth)
            acc["gt_flow_label_accuracy"].append(float((warped == video.labels[t])[visible].mean()))
            for gap in (1, STRIDE):
                truth = gt_flow(video, t, gap)
                things = video.labels[t] >= THING_ID_DIVISOR
                flows = {"zero": np.zeros((2, *flow_size(*truth.shape[:2])), np.float32),
                         "dis": dis_flow(video.images[t], video.images[t - gap])}
                if align is not None:
                    f_t, f_r = _gathered(model, video.images[t]), _gathered(model, video.images[t - gap])
                    h, w = flows["dis"].shape[1:]
                    initial = torch.as_tensor(flows["dis"])[None]
                    initial = F.pad(initial, (0, f_t.shape[-1] - w, 0, f_t.shape[-2] - h))
                    flows["refined"] = align.refine(f_t, f_r, initial)[0, :, :h, :w].numpy()
                for src, flow in flows.items():
                    for part, value in _epe(flow, truth, things).items():
                        epe[gap][src][part].append(value)
                if gap == STRIDE:
                    small_truth = _quarter(video.labels[t])
                    flows["gt"] = downscale_flow(truth)
                    for src, flow in flows.items():
                        warped = _quarter_warp(_quarter(video.labels[t - gap]), flow)
                        cells = _quarter(visible)
                        acc["label_accuracy_quarter"][src].append(float((warped == small_truth)[cells].mean()))
    return {
        "gt_flow_label_accuracy": _mean(acc["gt_flow_label_accuracy"]),
        "label_accuracy_quarter": {k: _mean(v) for k, v in acc["label_accuracy_quarter"].items() if v},
        "epe": {f"gap{gap}": {src: {p: _mean(v) for p, v in parts.items()} for src, parts in d.items() if parts["stuff"]}
                for gap, d in epe.items()},
    }


def _quarter_warp(labels: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = min(labels.shape[0], flow.shape[1]), min(labels.shape[1], flow.shape[2])
    return warp_labels(labels[:h, :w], flow[:, :h, :w].transpose(1, 2, 0))


# ------------------------------------------------------------------------------------------ fuse
def _gt_segments(labels: np.ndarray, to_contiguous: Dict[int, int]):
    ids = labels.astype(np.int64) + 1  # road is label 0
    segs = [(int(v) + 1, to_contiguous[int(v) // THING_ID_DIVISOR if v >= THING_ID_DIVISOR else int(v)], 0)
            for v in np.unique(labels)]
    return ids, segs


def image_pq(pairs, to_contiguous: Dict[int, int]) -> float:
    """Image PQ (k = 0, as a percentage) of (label map, (pred ids, pred segments)) pairs, by the
    project's scorer."""
    if not pairs:
        return float("nan")
    stats = np.zeros((1, NUM_CLASSES, 4))
    for labels, (pred_ids, pred_segments) in pairs:
        gt_ids, gt_segs = _gt_segments(labels, to_contiguous)
        counter = VideoCounter([gt_segs], [[(s["id"], s["category_id"]) for s in pred_segments]], NUM_CLASSES,
                               strict=False)
        counter.add_frame(0, gt_ids, np.asarray(pred_ids))
        stats += vpq_video_stats(counter.result(), [1], NUM_CLASSES)
    isthing = [c >= THING_BASE for c in range(NUM_CLASSES)]
    return 100.0 * summarize_vpq(stats, [0], isthing)["per_k"][0]["PQ"]


def _flow_input(video: ScenarioVideo, t: int, source: str) -> np.ndarray:
    if source == "zero" or t == 0:
        return np.zeros((2, *flow_size(*video.images[t].shape[:2])), np.float32)
    if source == "dis":
        return dis_flow(video.images[t], video.images[t - 1])
    return downscale_flow(video.flows[t])


@torch.no_grad()
def fuse_diagnostics(videos: List[ScenarioVideo], model, cfg, to_contiguous: Dict[int, int], unfused=None) -> Dict:
    """PQ on degraded/clean annotated frames per initial flow (and of ``unfused``, the same variant
    without fusion), feature cosine to the clean rendering, and the Attend gate's mean on clean and
    degraded frames."""
    out = {"PQ": {}}
    sources = ("zero", "dis", "oracle") if model.fuse_head is not None else ("none",)
    gates = {"clean": [], "degraded": []}
    attend = model.fuse_head.attend if model.fuse_head is not None else None
    recorded: List[torch.Tensor] = []
    gated = attend is not None and attend.embed is not None
    if gated:
        original = attend.attention

        def recording(f_t, f_aligned):
            recorded.append(original(f_t, f_aligned))
            return recorded[-1]

        attend.attention = recording
    try:
        for source in sources:
            out["PQ"][source] = _run_pq(videos, model, cfg, to_contiguous, source, recorded,
                                        gates if source == "dis" else None)
    finally:
        if gated:
            del attend.attention  # back to the class's method
    if unfused is not None:
        out["PQ"]["unfused"] = _run_pq(videos, unfused, cfg, to_contiguous, "none", [], None)
    if model.fuse_head is not None:
        out["gate"] = {k: _mean(v) for k, v in gates.items()}
        out["cosine_to_clean"] = _cosines(videos, model)
    return out


def _run_pq(videos, model, cfg, to_contiguous, source, recorded, gates) -> Dict[str, float]:
    pairs = {"degraded": [], "clean": []}
    for video in tqdm(videos, desc=f"fuse: PQ with {source} flow", unit="video", leave=False):
        session = VideoSession(model, build_tracker(cfg, cfg.MODEL.VPS.TRACK_ON), inference_options(cfg))
        for t, image in enumerate(video.images):
            flow = None if source == "none" else _flow_input(video, t, source)
            recorded.clear()
            ids, segments = session.step(model_frame(image, flow))["panoptic_seg"]
            kind = "degraded" if video.effects[t] else "clean"
            if gates is not None and recorded:
                gates[kind].append(float(recorded[-1].mean()))
            if t in video.annotated():
                pairs[kind].append((video.labels[t], (ids.cpu().numpy(), segments)))
    return {kind: image_pq(p, to_contiguous) for kind, p in pairs.items()}


@torch.no_grad()
def _cosines(videos, model) -> Dict[str, float]:
    """Mean per-cell cosine of a degraded frame's map to its clean rendering's: unfused and fused
    (f + g with the previous frame and DIS flow)."""
    fused, unfused = [], []
    for video in tqdm(videos, desc="fuse: cosine to the clean rendering", unit="video", leave=False):
        for t in range(1, len(video.images)):
            if not video.effects[t]:
                continue
            clean = _gathered(model, video.clean[t])
            f_t, f_prev = _gathered(model, video.images[t]), _gathered(model, video.images[t - 1])
            flow = torch.as_tensor(dis_flow(video.images[t], video.images[t - 1]))[None]
            flow = F.pad(flow, (0, f_t.shape[-1] - flow.shape[-1], 0, f_t.shape[-2] - flow.shape[-2]))
            g = model.fuse_head(f_t, f_prev, flow)
            unfused.append(float(F.cosine_similarity(f_t, clean, dim=1).mean()))
            fused.append(float(F.cosine_similarity(f_t + g, clean, dim=1).mean()))
    return {"unfused": _mean(unfused), "fused": _mean(fused)}


# -------------------------------------------------------------------------------------- tracking
CUES = ("class", "iou", "embedding", "combined")


def cue_weights(cue: str, combined: AffinityWeights) -> AffinityWeights:
    """One cue alone (Table IV's Cls-Sort, IoU-Match, Feat-Match) or the configured mix."""
    if cue == "combined":
        return combined
    off = dict(appearance=0.0, mask_iou=0.0, box_iou=0.0, same_class=0.0, log_score=0.0,
               new_object_logit=combined.new_object_logit)
    only = {"class": dict(same_class=10.0, log_score=1.0), "iou": dict(mask_iou=2.0), "embedding": dict(appearance=1.0)}
    return AffinityWeights(**dict(off, **only[cue]))


def gt_detections(labels: np.ndarray):
    """Ground-truth things of a frame: (segment ids, XYXY boxes, thing classes, full-res masks)."""
    values = [int(v) for v in np.unique(labels) if v >= THING_ID_DIVISOR]
    masks = np.stack([labels == v for v in values]) if values else np.zeros((0, *labels.shape), bool)
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    classes = [v // THING_ID_DIVISOR - THING_BASE for v in values]
    return values, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(classes, np.int64), masks


def association_quality(assigned: Dict[int, List], areas: Dict[int, List]) -> Dict[str, float]:
    """STQ's AQ (Weber et al. 2021, Eq. 3) for exact masks: ``assigned[g][t]`` is the track id given
    to ground-truth object g in its t-th frame, ``areas[g][t]`` its pixels there; plus id switches
    (changes of a ground-truth object's track id from one of its frames to the next)."""
    tpa: Dict[tuple, float] = {}
    for g, ids in assigned.items():
        for p, a in zip(ids, areas[g]):
            tpa[(p, g)] = tpa.get((p, g), 0.0) + a
    pred_area: Dict[int, float] = {}
    for (p, _), a in tpa.items():
        pred_area[p] = pred_area.get(p, 0.0) + a
    aq = []
    for g, ids in assigned.items():
        size = float(sum(areas[g]))
        aq.append(sum(a * a / (pred_area[p] + size - a) for (p, h), a in tpa.items() if h == g) / size)
    switches = sum(sum(a != b for a, b in zip(ids, ids[1:])) for ids in assigned.values())
    return {"AQ": _mean(aq), "id_switches": int(switches)}


def model_embeddings(model, embed: bool):
    """A video's embedding function: the model's track head pooled on the given boxes of the frame,
    with the frame's features fused with the previous frame's as online (zeros without a head)."""
    state = {"previous": None}

    @torch.no_grad()
    def embed_boxes(t: int, image: np.ndarray, boxes: np.ndarray, values: List[int]) -> torch.Tensor:
        frame = model_frame(image)
        _, features, gathered, _ = model.frame_features(frame, state["previous"] if t else None)
        state["previous"] = FrameState(frame["image"], gathered)
        if not embed or not len(values):
            return torch.zeros((len(values), 1))
        return model.roi_heads.track_embeddings(features, [Boxes(torch.as_tensor(boxes))])[0]

    return embed_boxes


@torch.no_grad()
def track_video(video: ScenarioVideo, tracker, embed_boxes) -> Dict[str, float]:
    """Feed a video's ground-truth detections (masks at the 1/4 map, warped by DIS flow as at
    inference) with ``embed_boxes(t, image, boxes, ids)`` as their embeddings to ``tracker``."""
    tracker.reset()
    assigned: Dict[int, List] = {}
    areas: Dict[int, List] = {}
    for t, image in enumerate(video.images):
        values, boxes, classes, masks = gt_detections(video.labels[t])
        embeds = embed_boxes(t, image, boxes, values)
        h, w = flow_size(*image.shape[:2])
        small = F.interpolate(torch.as_tensor(masks, dtype=torch.float32)[None], size=(h, w), mode="area")[0]
        det = Detections(embeds, torch.as_tensor(boxes), torch.as_tensor(classes), torch.ones(len(values)), small)
        warp = None
        if t:
            flow = torch.as_tensor(dis_flow(image, video.images[t - 1]))[None]
            warp = lambda m: flow_warp_reference(m[:, None], flow.expand(len(m), -1, -1, -1))[:, 0]  # noqa: E731
        for v, track_id, m in zip(values, tracker.update(det, warp), masks):
            assigned.setdefault(v, []).append(track_id)
            areas.setdefault(v, []).append(float(m.sum()))
    return association_quality(assigned, areas)


def tracking_oracle(scenarios: Dict[str, List[ScenarioVideo]], cfg, embeddings) -> Dict:
    """{scenario: {cue: {"AQ", "id_switches"}}}, AQ averaged over the scenario's videos;
    ``embeddings()`` makes a fresh per-video embedding function (e.g. :func:`model_embeddings`)."""
    combined = build_tracker(cfg, cfg.MODEL.VPS.TRACK_ON).weights
    out = {}
    for name, videos in scenarios.items():
        out[name] = {}
        for cue in CUES:
            if cue == "embedding" and not cfg.MODEL.VPS.TRACK_ON:
                continue
            tracker = build_tracker(cfg, cfg.MODEL.VPS.TRACK_ON)
            tracker.weights = cue_weights(cue, combined)
            results = [track_video(v, tracker, embeddings())
                       for v in tqdm(videos, desc=f"tracking: {name}, {cue}", unit="video", leave=False)]
            out[name][cue] = {"AQ": _mean(r["AQ"] for r in results),
                              "id_switches": sum(r["id_switches"] for r in results)}
    return out


def known_answers(report: Dict) -> List[Dict]:
    """The issue's known answers, each with whether it holds."""
    checks = [{"check": "GT-flow warp label accuracy >= 0.97",
               "holds": report["warp"]["gt_flow_label_accuracy"] >= 0.97}]
    epe = report["warp"]["epe"]["gap1"]
    if "refined" in epe:
        for part in ("stuff", "things"):
            checks.append({"check": f"refined flow EPE <= initial (DIS) EPE at gap 1, {part}",
                           "holds": epe["refined"][part] <= epe["dis"][part] + 1e-6})
    gate = report.get("fuse", {}).get("gate")
    if gate and not math.isnan(gate["degraded"]):  # NaN on a split without degraded frames
        checks.append({"check": "Attend gate higher on degraded frames", "holds": gate["degraded"] > gate["clean"]})
    tr = report.get("tracking_oracle", {})
    aq = {s: {c: v["AQ"] for c, v in cues.items()} for s, cues in tr.items()}
    if "embedding" in aq.get("slow_lookalike", {}):
        checks.append({"check": "slow_lookalike: IoU >= embedding",
                       "holds": aq["slow_lookalike"]["iou"] >= aq["slow_lookalike"]["embedding"]})
        checks.append({"check": "fast_distinct: embedding >= IoU",
                       "holds": aq["fast_distinct"]["embedding"] >= aq["fast_distinct"]["iou"]})
    if "reentry" in tr:
        checks.append({"check": "reentry: combined recovers every re-entry (0 id switches)",
                       "holds": tr["reentry"]["combined"]["id_switches"] == 0})
    for s, cues in aq.items():
        best = max(v for c, v in cues.items() if c != "combined")
        checks.append({"check": f"{s}: combined >= best single cue - 0.005", "holds": cues["combined"] >= best - 0.005})
    return checks
