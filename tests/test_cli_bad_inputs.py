"""SPEC §8 sweep: every user-facing CLI, run as a subprocess on a bad input (a corrupt PNG or
frame, a JSON missing a field, a missing file or folder, an unreadable checkpoint, an inconsistent
config), ends with one line naming the file or key and what was expected, a non-zero exit code, no
traceback and no partial output.

Not repeated here: tests/engine/test_failures.py (train_net.py: missing config, unknown key,
unprepared dataset), tests/test_demo.py (missing or undecodable video, unwritable output, missing or
mismatched weights), tests/evaluation/test_submission_io.py (bad submissions),
tests/data/test_prepare_*.py and tests/test_prepare_synthetic_cli.py (bad releases and arguments).
The cases run in parallel in setUpClass (each CLI spends ~4 s importing torch and detectron2).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch

from .common import CONFIGS, REPO, load_script
from .evaluation.dataset_files import write_gt_split
from .evaluation.synthetic_videos import random_videos

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")

# Files of the synthetic split the data faults start from (1 video, 6 frames, frame 5 annotated).
FRAME = "synthetic_vps/train/img_all/synthetic_000001_000005_leftImg8bit.png"
PAN_PNG = "synthetic_vps/train/panoptic_video/0001_0001_synthetic_000001_000005_final_mask.png"
GT_JSON = "synthetic_vps/panoptic_gt_train_city_vps.json"
ALL_INFO = "synthetic_vps/im_all_info_train_city_vps.json"

# Commands; "{name}" fields are the fixture's paths (TestCLIBadInputs.paths) and {out} the case's
# output folder. train_net.py evaluates on the generated train split.
TRAIN = "train_net.py --config-file {tiny} OUTPUT_DIR {out} SOLVER.MAX_ITER 2 DATALOADER.NUM_WORKERS 0"
EVAL = ("train_net.py --config-file {tiny} --eval-only OUTPUT_DIR {out} DATALOADER.NUM_WORKERS 0 "
        "DATASETS.TEST ('synthetic_vps_train',)")
DEMO = "demo/video_demo.py --config-file {tiny} --input {frames} --output {out}/video.mp4"
SCORE = ("-m vps_d2.evaluation --no-progress --gt-json {gt_json} --gt-dir {gt_dir} "
         "--pred-json {gt_json} --pred-dir {gt_dir}")  # the ground truth as its own submission

# What a failed run may leave in its output folder: train_net.py's logs; nothing for the others.
TRAIN_NET_LOGS = frozenset({"config.yaml", "log.txt", "metrics.json"})


def truncate(path: str) -> None:
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def edit_json(path: str, edit) -> None:
    with open(path) as f:
        obj = json.load(f)
    edit(obj)
    with open(path, "w") as f:
        json.dump(obj, f)


def drop(field: str, where: str = None):
    """An edit_json edit: remove ``field`` from the file (or from each entry of list ``where``)."""
    if where is None:
        return lambda obj: obj.pop(field)
    return lambda obj: [entry.pop(field) for entry in obj[where]]


# Faulty dataset roots: name -> (the broken file under the root, how it is broken). Each name is
# also a path field: the broken file.
FAULTS = {
    "truncated_pan_png": (PAN_PNG, truncate),
    "truncated_frame": (FRAME, truncate),
    "missing_frame": (FRAME, os.remove),
    "gt_without_segments_info": (GT_JSON, lambda p: edit_json(p, drop("segments_info", "annotations"))),
    "gt_without_image_id": (GT_JSON, lambda p: edit_json(p, drop("image_id", "annotations"))),
    "gt_without_annotations": (GT_JSON, lambda p: edit_json(p, drop("annotations"))),
    "frame_list_without_images": (ALL_INFO, lambda p: edit_json(p, drop("images"))),
}


@dataclass(frozen=True)
class Case:
    """One bad input: ``error`` is a regex of the last stderr line after the CLI's prefix, with the
    fixture's paths (escaped) as format fields; ``data`` is the dataset root (a FAULTS name)."""

    name: str
    command: str
    error: str
    data: str = "ok"


MISSING_FRAME = "{missing_frame}: no such frame, expected every frame of the split's im_all_info JSON$"
CASES = (
    # train_net.py, training and --eval-only, on a synthetic dataset with one fault
    Case("train, truncated panoptic PNG, 1 loader worker", TRAIN + " DATALOADER.NUM_WORKERS 1",
         r"{truncated_pan_png}: cannot read panoptic PNG \(image file is truncated\)$",
         "truncated_pan_png"),
    Case("eval, truncated panoptic PNG", EVAL,
         r"{truncated_pan_png}: cannot decode it( \(.*\))?, expected an 8-bit RGB panoptic PNG$",
         "truncated_pan_png"),
    Case("train, annotation without segments_info", TRAIN,
         "{gt_without_segments_info}: annotation of image '0001_0001_synthetic_000001_000005' has no "
         "'segments_info' field$", "gt_without_segments_info"),
    Case("eval, panoptic JSON without annotations", EVAL,
         "{gt_without_annotations}: the file has no 'annotations' field$", "gt_without_annotations"),
    Case("train, annotation without image_id", TRAIN,
         "{gt_without_image_id}: an annotation has no 'image_id' field$", "gt_without_image_id"),
    Case("train, missing frame", TRAIN, MISSING_FRAME, "missing_frame"),
    Case("eval, missing frame", EVAL, MISSING_FRAME, "missing_frame"),
    Case("eval, truncated frame", EVAL,
         r"{truncated_frame}: cannot read the frame \(image file is truncated\), expected a PNG or "
         "JPEG image$", "truncated_frame"),
    Case("eval, missing MODEL.WEIGHTS", EVAL + " MODEL.WEIGHTS {tmp}/nonexistent.pth",
         r"MODEL.WEIGHTS {tmp}/nonexistent.pth: no such file, expected a checkpoint \(.pth or .pkl\)$"),
    Case("eval, MODEL.WEIGHTS URL that cannot be downloaded",
         EVAL + " MODEL.WEIGHTS http://127.0.0.1:9/model.pth",
         r"MODEL.WEIGHTS http://127.0.0.1:9/model.pth: cannot download it \(.*\), expected a reachable "
         "URL or a local checkpoint file$"),
    Case("train, truncated MODEL.WEIGHTS", TRAIN + " MODEL.WEIGHTS {truncated_pth}",
         r"{truncated_pth}: cannot read it as a checkpoint \(PytorchStreamReader failed reading zip "
         r"archive: failed finding central directory\), expected a file saved by detectron2 or "
         r"torch.save \(.pth\) or a detectron2 .pkl$"),
    # train_net.py, inconsistent configs
    Case("train, unknown MODEL.FLOW.NAME", TRAIN + " MODEL.FLOW.NAME flownet2",
         r"MODEL.FLOW.NAME: unknown flow source 'flownet2', expected one of \['dis', 'oracle', 'raft', 'zero'\]$"),
    Case("train, unknown MODEL.TRACK_HEAD.NAME", TRAIN + " MODEL.TRACK_HEAD.NAME quasi_dense",
         r"MODEL.TRACK_HEAD.NAME: unknown track head 'quasi_dense', expected one of "
         r"\['contrastive', 'masktrack'\]$"),
    Case("train, semantic classes unlike the dataset's", TRAIN + " MODEL.SEM_SEG_HEAD.NUM_CLASSES 5",
         r"MODEL.SEM_SEG_HEAD.NUM_CLASSES: 5 does not fit, expected 19 "
         r"\(the categories of 'synthetic_vps_train'\)$"),
    Case("train, clips of 3 frames", TRAIN + " INPUT.VIDEO.NUM_FRAMES 3",
         r"INPUT.VIDEO.NUM_FRAMES: 3 does not fit, expected 2 "
         r"\(the fuse and track heads take frame pairs\)$"),
    Case("eval, unknown test dataset", EVAL + " DATASETS.TEST ('nope',)",
         r"DATASETS.TEST: 'nope' is not a registered video panoptic dataset, expected one of "
         r"\[.*'synthetic_vps_train'.*\]$"),
    Case("train, config that is not YAML", "train_net.py --config-file {broken_yaml} OUTPUT_DIR {out}",
         r"config {broken_yaml}: not valid YAML \(while scanning a quoted scalar .*\)$"),
    # demo/video_demo.py
    Case("demo, unknown config key", DEMO + " --opts MODEL.NO_SUCH_KEY 1",
         "config {tiny}: Non-existent key: MODEL.NO_SUCH_KEY$"),
    Case("demo, unknown MODEL.FUSE.NAME", DEMO + " --opts MODEL.FUSE.NAME Bogus",
         r"MODEL.FUSE.NAME: unknown fuse head 'Bogus', expected one of \['AlignAttendFuse'\]$"),
    Case("demo, truncated MODEL.WEIGHTS", DEMO + " --opts MODEL.WEIGHTS {truncated_pth}",
         r"{truncated_pth}: cannot read it as a checkpoint \(PytorchStreamReader .*\), expected .*$"),
    Case("demo, truncated frame in the input folder", DEMO.replace("{frames}", "{bad_frames}"),
         "{bad_frames}/synthetic_000001_000003_leftImg8bit.png: cannot read the frame, expected a "
         ".png/.jpg/.jpeg/.bmp image$"),
    # python -m vps_d2.evaluation (the offline scorer)
    Case("scorer, missing ground-truth folder", SCORE.replace("--gt-dir {gt_dir}", "--gt-dir {tmp}/nope"),
         "--gt-dir {tmp}/nope: no such folder, expected the folder of the ground-truth PNGs$"),
    Case("scorer, ground-truth category without isthing",
         SCORE.replace("--gt-json {gt_json}", "--gt-json {gt_without_isthing}"),
         r"{gt_without_isthing}: category \{{'id': 10, .*\}} lacks 'id' or 'isthing', expected both$"),
    Case("scorer, unwritable --json-out", SCORE + " --json-out {a_file}/report.json",
         r"--json-out {a_file}/report.json: cannot write it \(File exists: {a_file}\), "
         "expected a writable location$"),
    # datasets/prepare_*.py
    Case("cityscapes, release image list without images",
         "datasets/prepare_cityscapes_vps.py --release {release} --sequences {tmp} --out {out}",
         "{release}/panoptic_im_val_city_vps.json: expected an object with an 'images' list$"),
    Case("viper, --check of a frame list without images",
         "datasets/prepare_viper_vps.py --check --split train --out {data}/frame_list_without_images/"
         "synthetic_vps", "{frame_list_without_images}: expected an object with an 'images' list$"),
    Case("synthetic, --root below a file",
         "datasets/prepare_synthetic_vps.py --root {a_file}/synthetic_vps --split val",
         r"--root {a_file}/synthetic_vps: cannot write the split there \(Not a directory: .*\), "
         "expected a writable folder$"),
)


def cli_prefix(command: str):
    """(prefix of the error line, exit code) of the CLI that ``command`` runs."""
    if command.startswith("-m vps_d2.evaluation"):
        return "error: ", 1
    return os.path.basename(command.split()[0]) + ": error: ", 2


class TestCLIBadInputs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vps_d2_cli_")
        cls.paths = {"tmp": cls.tmp, "tiny": TINY, "data": os.path.join(cls.tmp, "data")}
        cls._write_datasets()
        cls._write_files()
        cls._write_scorer_inputs()
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
            cls.results = dict(zip(CASES, pool.map(cls._run, CASES)))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def _write_datasets(cls):
        """The synthetic split, written by its prepare script, then one copy per fault."""
        ok = os.path.join(cls.paths["data"], "ok")
        argv = ["--root", os.path.join(ok, "synthetic_vps"), "--split", "train", "--videos", "1",
                "--frames", "6", "--height", "64", "--width", "128"]
        assert load_script("datasets/prepare_synthetic_vps.py").main(argv) == 0
        for name, (relpath, fault) in FAULTS.items():
            shutil.copytree(ok, os.path.join(cls.paths["data"], name))
            cls.paths[name] = os.path.join(cls.paths["data"], name, relpath)
            fault(cls.paths[name])
        cls.paths["frames"] = os.path.dirname(os.path.join(ok, FRAME))

    @classmethod
    def _write_files(cls):
        """A truncated checkpoint, a broken YAML file, a file to write below, a release image list
        without ``images``, and a frame folder with one truncated frame."""
        p = cls.paths
        p["truncated_pth"] = os.path.join(cls.tmp, "truncated.pth")
        p["broken_yaml"] = os.path.join(cls.tmp, "broken.yaml")
        for name in ("a_file", "release", "bad_frames"):
            p[name] = os.path.join(cls.tmp, name)
        torch.save({"model": {"w": torch.zeros(256)}}, p["truncated_pth"])
        truncate(p["truncated_pth"])
        os.makedirs(p["release"])
        release_json = os.path.join(p["release"], "panoptic_im_val_city_vps.json")
        for path, text in ((p["broken_yaml"], 'MODEL:\n  DEVICE: "cpu\n'), (p["a_file"], ""),
                           (release_json, '{"annotations": []}')):
            with open(path, "w") as f:
                f.write(text)
        shutil.copytree(p["frames"], p["bad_frames"])
        truncate(os.path.join(p["bad_frames"], "synthetic_000001_000003_leftImg8bit.png"))

    @classmethod
    def _write_scorer_inputs(cls):
        """A small ground truth, and a copy of its JSON whose first category has no ``isthing``."""
        p = cls.paths
        gt = write_gt_split(os.path.join(cls.tmp, "gt"), "val", random_videos(1, num_videos=1))
        p["gt_json"], p["gt_dir"] = gt["gt_json"], gt["gt_dir"]
        p["gt_without_isthing"] = os.path.join(cls.tmp, "gt_without_isthing.json")
        shutil.copy(p["gt_json"], p["gt_without_isthing"])
        edit_json(p["gt_without_isthing"], lambda obj: obj["categories"][0].pop("isthing"))

    @classmethod
    def _run(cls, case: Case):
        """Run the case's command; returns (CompletedProcess, its output folder)."""
        out = os.path.join(cls.tmp, "out", re.sub(r"\W+", "_", case.name))
        argv = case.command.format(out=out, **cls.paths).split()
        if argv[0] != "-m":
            argv[0] = os.path.join(REPO, argv[0])
        # FVCORE_CACHE: the download cache (and its lock files) of the URL case stays in tmp
        env = dict(os.environ, OMP_NUM_THREADS="1", FVCORE_CACHE=os.path.join(cls.tmp, "cache"),
                   DETECTRON2_DATASETS=os.path.join(cls.paths["data"], case.data))
        proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env,
                              cwd=REPO, timeout=300)
        return proc, out

    def test_sweep(self):
        escaped = {k: re.escape(v) for k, v in self.paths.items()}
        for case in CASES:
            with self.subTest(case.name):
                proc, out = self.results[case]
                prefix, code = cli_prefix(case.command)
                self.assertEqual(proc.returncode, code, proc.stderr[-3000:])
                self.assertNotIn("Traceback", proc.stderr)
                last = proc.stderr.strip().splitlines()[-1]
                self.assertRegex(last, "^" + re.escape(prefix) + case.error.format(**escaped))
                allowed = TRAIN_NET_LOGS if case.command.startswith("train_net.py") else frozenset()
                left = {f for _, _, files in os.walk(out) for f in files} - allowed
                self.assertFalse(left, f"partial output left in {out}")


if __name__ == "__main__":
    unittest.main()
