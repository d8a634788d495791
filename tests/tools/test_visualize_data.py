"""tools/visualize_data.py on a small synthetic split: one image per annotated frame (annotation)
or per training pair (dataloader), and one mp4 per video."""
import contextlib
import glob
import io
import os
import tempfile
import unittest

import cv2

from ..common import CONFIGS, load_script, registered_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")


class TestVisualizeData(unittest.TestCase):
    def test_both_sources(self):
        tool = load_script("tools/visualize_data.py")
        with registered_synthetic("test_visualize_data", videos=1) as (name, _), tempfile.TemporaryDirectory() as out:
            for source, count, width in (("annotation", 2, 128), ("dataloader", 3, None)):
                argv = ["--config-file", TINY, "--source", source, "--output-dir", out, "--dataset", name,
                        "--samples", str(count), "MODEL.FLOW.IN_LOADER", "False"]
                with contextlib.redirect_stdout(io.StringIO()):
                    self.assertEqual(tool.main(argv), 0)
                folder = os.path.join(out, source, name)
                images = sorted(glob.glob(os.path.join(folder, "0001", "*.png")))
                self.assertEqual(len(images), count)  # the small split annotates 2 of its 10 frames
                first = cv2.imread(images[0])
                if width:
                    self.assertEqual(first.shape[:2], (64, width))
                else:  # target | reference side by side
                    self.assertGreater(first.shape[1], 2 * first.shape[0])
                video = cv2.VideoCapture(os.path.join(folder, "0001.mp4"))
                self.assertEqual(int(video.get(cv2.CAP_PROP_FRAME_COUNT)), count)

    def test_unknown_dataset_is_one_line(self):
        tool = load_script("tools/visualize_data.py")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), tempfile.TemporaryDirectory() as out:
            code = tool.main(["--config-file", TINY, "--source", "annotation", "--output-dir", out, "--dataset", "nope"])
        self.assertEqual(code, 2)
        self.assertTrue(err.getvalue().startswith("visualize_data.py: error: "), err.getvalue())
        self.assertEqual(len(err.getvalue().strip().splitlines()), 1)


if __name__ == "__main__":
    unittest.main()
