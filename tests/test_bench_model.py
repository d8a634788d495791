"""benchmarks/bench_model.py: the models it compares keep the same number of detections, and the
Panoptic FPN training targets are in that model's form."""
import tempfile
import unittest

import torch
from detectron2.data import DatasetCatalog, MetadataCatalog

from .common import load_script


class TestBenchModel(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bench = load_script("benchmarks/bench_model.py")
        cls.tmp = tempfile.TemporaryDirectory()
        args = cls.bench.parse_args(["--device", "cpu", "--height", "64", "--width", "128", "--frames", "1", "--warmup", "1"])
        cls.bench.generate_video(cls.tmp.name, args)
        cls.video = cls.bench.register_video(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        DatasetCatalog.remove(cls.bench.DATASET)
        MetadataCatalog.remove(cls.bench.DATASET)
        cls.tmp.cleanup()

    def test_every_model_keeps_exactly_the_requested_detections(self):
        frame = {"image": self.bench.frames_image(self.video["file_names"][0]), "height": 64, "width": 128}
        for name in ("vpsnet_pp_f", "panoptic_fpn"):
            with self.subTest(model=name):
                torch.manual_seed(0)
                model = self.bench.build_benchmark_model(self.bench.build_config(name, "cpu", 5, 64, 128)).eval()
                with torch.no_grad():
                    if name == "panoptic_fpn":
                        instances = model([frame])[0]["instances"]
                    else:
                        instances = model.inference_step(frame, None)[0]["instances"]
                self.assertEqual(len(instances), 5)

    def test_training_crop_scales_with_the_frame_size(self):
        cfg = self.bench.build_config("fusetrack", "cpu", 5, 512, 1024)
        self.assertEqual(tuple(cfg.INPUT.CROP.SIZE), (400, 800))
        self.assertEqual(tuple(cfg.INPUT.MIN_SIZE_TRAIN), (409, 640))
        full = self.bench.build_config("fusetrack", "cpu", 5, 1024, 2048)
        self.assertEqual(tuple(full.INPUT.CROP.SIZE), (800, 1600))  # the configs' own crop

    def test_panoptic_fpn_semantic_targets(self):
        sem = torch.tensor([0, 10, 11, 18, 255])
        self.assertEqual(self.bench.panoptic_fpn_sem_seg(sem).tolist(), [1, 11, 0, 0, 255])

    def test_panoptic_fpn_training_input_has_its_targets(self):
        cfg = self.bench.build_config("panoptic_fpn", "cpu", 5, 64, 128)
        (batch,) = self.bench.training_batch("panoptic_fpn", self.video, cfg)
        self.assertEqual(set(batch), {"image", "instances", "sem_seg"})
        self.assertEqual(tuple(batch["image"].shape[-2:]), tuple(batch["sem_seg"].shape))
        self.assertLessEqual(int(batch["sem_seg"][batch["sem_seg"] != 255].max()), 11)


if __name__ == "__main__":
    unittest.main()
