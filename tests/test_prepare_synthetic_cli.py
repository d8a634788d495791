import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

from vps_d2.data.synthetic import GENERATOR_VERSION

from .common import REPO, load_script

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
            out = run("--root", root, "--split", "val", "--difficulty", "nightmare")
            self.assertEqual(out.returncode, 2)
            self.assertIn("argument --difficulty: invalid choice: 'nightmare'", out.stderr)


class TestPrepareSyntheticReuse(unittest.TestCase):
    """A split is reused only when its generator stamp (version and arguments) matches."""

    ARGS = ["--split", "val", "--videos", "1", "--frames", "5", "--height", "64", "--width", "128"]

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="vps_d2_prep_")
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        self.pan_json = os.path.join(self.root, "panoptic_gt_val_city_vps.json")
        self.frame = os.path.join(self.root, "val", "img_all", "synthetic_000001_000001_leftImg8bit.png")

    def prepare(self, *extra, rc=0):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            script = load_script("datasets/prepare_synthetic_vps.py")
            self.assertEqual(script.main(["--root", self.root, *self.ARGS, *extra]), rc)
        return out.getvalue().splitlines()[0]

    def set_stamp(self, path, **changes):
        with open(path) as f:
            data = json.load(f)
        if changes:
            data["generator"].update(changes)
        else:
            del data["generator"]
        with open(path, "w") as f:
            json.dump(data, f)

    def test_same_stamp_is_reused(self):
        self.assertTrue(self.prepare().startswith("wrote synthetic_vps val"))
        os.remove(self.frame)  # now incomplete: regenerated
        self.assertIn("1 of its files are missing", self.prepare())
        mtime = os.path.getmtime(self.frame)
        self.assertEqual(self.prepare(),
                         f"reusing synthetic_vps val in {self.root} (generator version {GENERATOR_VERSION}, same arguments)")
        self.assertEqual(os.path.getmtime(self.frame), mtime, "a reused split was rewritten")

    def test_other_version_missing_stamp_or_arguments_regenerate(self):
        self.prepare()
        self.set_stamp(self.pan_json, version=1)
        self.assertEqual(self.prepare(), f"regenerating synthetic_vps val in {self.root}: "
                                         f"it was written by generator version 1, this is version {GENERATOR_VERSION}")
        with open(self.pan_json) as f:
            self.assertEqual(json.load(f)["generator"]["version"], GENERATOR_VERSION)
        self.set_stamp(os.path.join(self.root, "im_all_info_val_city_vps.json"))
        self.assertIn("it has no generator stamp", self.prepare())
        self.assertIn("it was written with other arguments (--seed 0 instead of 3)",
                      self.prepare("--seed", "3"))
        self.assertIn("reusing", self.prepare("--seed", "3"))

    def test_difficulty_change_regenerates_and_same_difficulty_reuses(self):
        self.prepare()
        with open(self.pan_json) as f:
            self.assertNotIn("difficulty", json.load(f)["generator"], "a clean stamp changed")
        self.assertEqual(self.prepare("--difficulty", "hard"),
                         f"regenerating synthetic_vps_hard val in {self.root}: "
                         "it was written with other arguments (--difficulty clean instead of hard)")
        self.assertTrue(self.prepare("--difficulty", "hard").startswith("reusing synthetic_vps_hard val"))
        self.assertIn("(--difficulty hard instead of clean)", self.prepare())
        self.assertTrue(self.prepare().startswith("reusing synthetic_vps val"))

    def test_interrupted_rewrite_is_not_reused(self):
        self.prepare()
        frames_written = []

        def disk_full_after_two(path, array):
            if len(frames_written) == 2:
                raise OSError(28, "No space left on device", path)
            frames_written.append(path)

        with mock.patch("vps_d2.data.synthetic.atomic_write_image", disk_full_after_two):
            self.prepare("--seed", "3", rc=2)
        self.assertTrue(self.prepare().startswith("wrote synthetic_vps val"), "a half-rewritten split was reused")


if __name__ == "__main__":
    unittest.main()
