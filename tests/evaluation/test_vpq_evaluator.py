"""VPQEvaluator end to end on a small registered dataset: process/evaluate, gathering over ranks,
print_csv_format / verify_results, submission files, config."""

import json
import os
import shutil
import tempfile
import unittest
from unittest import mock

import numpy as np
import torch
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import print_csv_format, verify_results

from vps_d2.config import add_vps_config
from vps_d2.data.categories import category_metadata
from vps_d2.data.dataset_mapper import VideoPanopticDatasetMapper
from vps_d2.data.datasets.cityscapes_vps import register_cityscapes_vps
from vps_d2.evaluation import VPQEvaluator
from vps_d2.evaluation.scoring import score_submission

from .dataset_files import CATEGORIES, write_gt_split
from .helpers import evaluate_videos
from .synthetic_videos import ISTHING, random_videos

NAME = "test_vpq_evaluator_vps"


def mapper_inputs(record):
    """What the test mapper gives the model for one video (images left out)."""
    frames = []
    for t in range(len(record["file_names"])):
        frames.append(
            {
                "height": record["height"],
                "width": record["width"],
                "file_name": record["file_names"][t],
                "frame_id": record["frame_ids"][t],
                "annotated": record["annotated"][t],
                "image_id": record["image_ids"][t],
                "pan_seg_file_name": record["pan_seg_file_names"][t],
                "segments_info": record["segments_infos"][t],
            }
        )
    return {
        "video_id": record["video_id"],
        "height": record["height"],
        "width": record["width"],
        "frames": frames,
    }


def model_outputs(record, video):
    """The model's output for every frame: the test video's prediction on annotated frames, an
    all-void map on the others."""
    frames, j = [], 0
    for t, annotated in enumerate(record["annotated"]):
        if annotated:
            fr = video[j]
            j += 1
            seg = torch.from_numpy(fr["pred"]).long()
            infos = [
                {
                    "id": s["id"],
                    "category_id": s["category_id"],
                    "isthing": ISTHING[s["category_id"]],
                    "track_id": s["id"],
                    "score": 1.0,
                }
                for s in fr["pred_segments"]
            ]
        else:
            seg, infos = torch.zeros((record["height"], record["width"]), dtype=torch.long), []
        frames.append({"panoptic_seg": (seg, infos)})
    return {"video_id": record["video_id"], "frames": frames}


class TestVPQEvaluator(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vps_d2_evaluator_")
        self.videos = [v for s in (3, 4) for v in random_videos(s, num_videos=2)]
        write_gt_split(self.tmp, "val", self.videos)
        meta = dict(category_metadata(CATEGORIES), annotation_stride=5)
        register_cityscapes_vps(NAME, self.tmp, "val", meta, prepare_hint="(test data)")
        self.records = DatasetCatalog.get(NAME)
        self.expected = evaluate_videos(self.videos, ISTHING)

    def tearDown(self):
        DatasetCatalog.remove(NAME)
        MetadataCatalog.remove(NAME)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_evaluator(self, evaluator, records, videos):
        evaluator.reset()
        for record, video in zip(records, videos):
            evaluator.process([mapper_inputs(record)], [model_outputs(record, video)])

    def test_end_to_end(self):
        """Inputs from the real test mapper (frames are read lazily; the evaluator reads none)."""
        mapper = VideoPanopticDatasetMapper(self.cfg(), is_train=False, dataset_name=NAME)
        evaluator = VPQEvaluator(NAME, output_dir=os.path.join(self.tmp, "out"))
        evaluator.reset()
        for record, video in zip(self.records, self.videos):
            evaluator.process([mapper(record)], [model_outputs(record, video)])
        results = evaluator.evaluate()
        self.assertEqual(list(results), ["vpq"])
        res = results["vpq"]
        for key, exp in (
            ("VPQ", "VPQ"),
            ("VPQ_th", "VPQ_th"),
            ("VPQ_st", "VPQ_st"),
            ("STQ", "STQ"),
            ("AQ", "AQ"),
            ("mIoU", "SQ"),
            ("PQ", "PQ"),
        ):
            self.assertAlmostEqual(res[key], self.expected[exp], delta=1e-9, msg=key)
        for k in (0, 5, 10, 15):
            self.assertAlmostEqual(
                res[f"VPQ@{k}"], self.expected["per_k"][str(k)]["VPQ"], delta=1e-9
            )
        self.assertTrue(all(isinstance(v, float) for v in res.values()))
        print_csv_format(results)
        cfg = self.cfg()
        cfg.TEST.EXPECTED_RESULTS = [
            ["vpq", "VPQ", res["VPQ"], 1e-6],
            ["vpq", "VPQ@5", res["VPQ@5"], 1e-6],
        ]
        self.assertTrue(verify_results(cfg, results))
        with open(os.path.join(self.tmp, "out", "vpq_results.json")) as fh:
            self.assertAlmostEqual(json.load(fh)["VPQ"], res["VPQ"], delta=1e-9)

    def test_gather_over_ranks(self):
        """Two 'ranks' with two videos each: the worker rank returns {}, the main rank the total."""
        rank1 = VPQEvaluator(NAME)
        self.run_evaluator(rank1, self.records[2:], self.videos[2:])
        sent = []
        with mock.patch("detectron2.utils.comm.is_main_process", return_value=False), mock.patch(
            "detectron2.utils.comm.gather", side_effect=lambda obj, dst=0: sent.append(obj) or []
        ):
            self.assertEqual(rank1.evaluate(), {})
        rank0 = VPQEvaluator(NAME)
        self.run_evaluator(rank0, self.records[:2], self.videos[:2])
        with mock.patch(
            "detectron2.utils.comm.gather", side_effect=lambda obj, dst=0: [obj] + sent
        ):
            res = rank0.evaluate()["vpq"]
        self.assertAlmostEqual(res["VPQ"], self.expected["VPQ"], delta=1e-9)
        self.assertAlmostEqual(res["STQ"], self.expected["STQ"], delta=1e-9)
        self.assertEqual(rank0.report["num_videos"], len(self.videos))

    def test_submission_files(self):
        out = os.path.join(self.tmp, "sub")
        evaluator = VPQEvaluator(NAME, output_dir=out, write_submission=True, write_plots=True)
        self.run_evaluator(evaluator, self.records, self.videos)
        res = evaluator.evaluate()["vpq"]
        with open(os.path.join(out, "pred.json")) as fh:
            anns = json.load(fh)["annotations"]
        self.assertEqual(len(anns), sum(len(v) for v in self.videos))
        cat_ids = {s["category_id"] for a in anns for s in a["segments_info"]}
        self.assertTrue(cat_ids <= {c["id"] for c in CATEGORIES})
        report = score_submission(
            MetadataCatalog.get(NAME).panoptic_json,
            MetadataCatalog.get(NAME).panoptic_root,
            os.path.join(out, "pred.json"),
            os.path.join(out, "pan_pred"),
            progress=False,
        )
        self.assertAlmostEqual(report["VPQ"], res["VPQ"], delta=1e-9)
        self.assertTrue(os.path.isfile(os.path.join(out, "vpq_vs_k.png")))

    def test_config_and_dataset_rules(self):
        cfg = self.cfg()
        cfg.TEST.VPQ.WINDOW_SIZES = [0, 5]
        evaluator = VPQEvaluator.from_config(cfg, NAME)
        self.run_evaluator(evaluator, self.records, self.videos)
        res = evaluator.evaluate()["vpq"]
        self.assertEqual([k for k in res if k.startswith("VPQ@")], ["VPQ@0", "VPQ@5"])
        self.assertAlmostEqual(
            res["VPQ"], np.mean([self.expected["per_k"][k]["VPQ"] for k in ("0", "5")]), delta=1e-9
        )
        # VIPER-style rules come with the metadata
        MetadataCatalog.get(NAME).set(
            vpq_excluded_category_ids=[CATEGORIES[1]["id"]], vpq_min_gt_area=30
        )
        evaluator = VPQEvaluator(NAME, window_sizes=[0])
        self.run_evaluator(evaluator, self.records, self.videos)
        evaluator.evaluate()
        self.assertTrue(evaluator.report["per_class"][1]["excluded"])
        expected = evaluate_videos(
            self.videos, ISTHING, window_sizes=[0], excluded=[1], min_gt_area=30
        )
        self.assertAlmostEqual(evaluator.report["VPQ"], expected["VPQ"], delta=1e-9)

    def test_model_output_errors_are_clear(self):
        record, video = self.records[0], self.videos[0]
        out = model_outputs(record, video)
        t = record["annotated"].index(True)
        seg, infos = out["frames"][t]["panoptic_seg"]
        out["frames"][t]["panoptic_seg"] = (seg, infos[1:])
        evaluator = VPQEvaluator(NAME)
        with self.assertRaisesRegex(
            ValueError, f"video {record['video_id']} frame .*segment id {infos[0]['id']}"
        ):
            evaluator.process([mapper_inputs(record)], [out])

    @staticmethod
    def cfg():
        from detectron2.config import get_cfg

        cfg = get_cfg()
        add_vps_config(cfg)
        return cfg
