import os
import subprocess
import sys
import tempfile
import unittest

from .common import REPO

SCRIPT = os.path.join(REPO, "datasets", "prepare_synthetic_vps.py")


def run(*args):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)


class TestPrepareSyntheticCLI(unittest.TestCase):
    def test_writes_split_and_prints_statistics(self):
        with tempfile.TemporaryDirectory() as root:
            out = run("--root", root, "--split", "val", "--videos", "2", "--frames", "10",
                      "--height", "64", "--width", "128", "--seed", "4")
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("videos: 2  frames: 20  annotated frames: 4", out.stdout)
            self.assertIn("car", out.stdout)
            self.assertEqual(len(os.listdir(os.path.join(root, "val", "img_all"))), 20)
            self.assertEqual(len(os.listdir(os.path.join(root, "val", "panoptic_video"))), 4)
            self.assertFalse([f for _, _, fs in os.walk(root) for f in fs if ".tmp" in f], "temporary files left")

    def test_bad_arguments_give_one_line_and_nonzero_exit(self):
        with tempfile.TemporaryDirectory() as root:
            out = run("--root", root, "--split", "val", "--videos", "0")
            self.assertEqual(out.returncode, 2)
            self.assertEqual(out.stderr.strip().splitlines()[-1], "prepare_synthetic_vps.py: error: --videos must be >= 1, got 0")
            self.assertNotIn("Traceback", out.stderr)
            self.assertFalse(os.listdir(root), "nothing may be written for bad arguments")
            out = run("--root", root, "--split", "nope")
            self.assertEqual(out.returncode, 2)
            self.assertIn("invalid choice: 'nope'", out.stderr)


if __name__ == "__main__":
    unittest.main()
