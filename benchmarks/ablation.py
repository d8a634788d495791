#!/usr/bin/env python
"""The synthetic ablation (issue 8, SPEC §7): Track, FuseTrack and VPSNet++ a–f, one schedule, several seeds.

Every run is ``train_net.py`` (training on ``synthetic_vps_train``, then its final evaluation on the
held-out ``synthetic_vps_test``; SPEC §9: tune on val only) into ``OUTPUT/<variant>/seed<S>/``. Two
scales:

* ``--scale r50`` (a GPU): ``configs/Synthetic-VPS/vpsnet_<variant>_R_50_FPN_3k_synthetic_vps.yaml``
  as they are;
* ``--scale tiny`` (the CPU): ``configs/quick_schedules/tiny_vpsnet_pp_cpu.yaml`` with the variant's
  switches (``MODEL.VPS.*``, ``MODEL.FUSE`` directions and ``MODEL.TRACK_HEAD.NAME``) read from the
  R50 config, so both scales ablate exactly the same components.

A run whose ``vpq_results.json`` exists is not run again, so an interrupted ablation continues
where it stopped. The table (mean ± std over seeds of VPQ at each k, VPQ, VPQ^Th, VPQ^St and STQ)
is printed and written to ``OUTPUT/ablation.md`` and ``OUTPUT/ablation.json``; with ``--model-zoo
MODEL_ZOO.md`` it also replaces the block between this scale's markers there.

    python benchmarks/ablation.py --scale tiny --iters 600 --seeds 0 1 2 --jobs 2   # CPU
    python benchmarks/ablation.py --scale r50 --seeds 0 1 2 --num-gpus 1            # GPU
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from tqdm import tqdm

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from vps_d2.utils.file_io import atomic_path, atomic_write_json  # noqa: E402

VARIANTS = ("track", "fusetrack", "pp_a", "pp_b", "pp_c", "pp_d", "pp_e", "pp_f")
LABELS = {
    "track": "Track",
    "fusetrack": "FuseTrack",
    "pp_a": "VPSNet++ a. Bi-Fuse",
    "pp_b": "VPSNet++ b. Contra-Track",
    "pp_c": "VPSNet++ c. Pan-Edge",
    "pp_d": "VPSNet++ d. Tube-Disc",
    "pp_e": "VPSNet++ e. a + d",
    "pp_f": "VPSNet++ f. a + b + c + d",
}
# The keys that tell the variants apart; every other setting comes from the scale's base config.
SWITCHES = (
    "MODEL.VPS.FUSE_ON",
    "MODEL.VPS.TRACK_ON",
    "MODEL.VPS.EDGE_ON",
    "MODEL.VPS.TUBE_ON",
    "MODEL.FUSE.BIDIRECTIONAL",
    "MODEL.FUSE.ALIGN_ON",
    "MODEL.FUSE.ATTEND_ON",
    "MODEL.TRACK_HEAD.NAME",
)
TINY_CONFIG = os.path.join(REPO, "configs", "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
COLUMNS = ("VPQ@0", "VPQ@5", "VPQ@10", "VPQ@15", "VPQ", "VPQ_th", "VPQ_st", "STQ")


def r50_config(variant: str) -> str:
    return os.path.join(REPO, "configs", "Synthetic-VPS", f"vpsnet_{variant}_R_50_FPN_3k_synthetic_vps.yaml")


def variant_switches(variant: str) -> list:
    """``KEY VALUE`` pairs of the variant's switches, as ``train_net.py`` opts."""
    from detectron2.config import get_cfg

    from vps_d2.config import add_vps_config

    cfg = get_cfg()
    add_vps_config(cfg)
    cfg.merge_from_file(r50_config(variant))
    opts = []
    for key in SWITCHES:
        node = cfg
        for part in key.split("."):
            node = node[part]
        opts += [key, str(node)]
    return opts


def schedule_opts(iters: int) -> list:
    """A shorter schedule with the same shape as the configs': LR steps at 75 % and 92 %."""
    steps = f"({int(iters * 0.75)}, {int(iters * 0.92)})"
    return ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", steps, "SOLVER.CHECKPOINT_PERIOD", str(iters)]


def run_command(args, variant: str, seed: int, out_dir: str) -> list:
    if args.scale == "tiny":
        config, opts = TINY_CONFIG, variant_switches(variant)
    else:
        config, opts = r50_config(variant), []
    if args.iters:
        opts += schedule_opts(args.iters)
    opts += ["DATASETS.TEST", f"('{args.test_dataset}',)", "SEED", str(seed), "OUTPUT_DIR", out_dir, *args.opts]
    return [sys.executable, os.path.join(REPO, "train_net.py"), "--config-file", config,
            "--num-gpus", str(args.num_gpus), *opts]


def results_path(out_dir: str, dataset: str) -> str:
    return os.path.join(out_dir, "inference", dataset, "vpq_results.json")


def train_and_evaluate(args, variant: str, seed: int) -> dict:
    """One run; its log is ``OUTPUT/<variant>/seed<S>.log``. Returns the evaluator's report."""
    out_dir = os.path.join(args.output, variant, f"seed{seed}")
    path = results_path(out_dir, args.test_dataset)
    if not os.path.exists(path):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        log = os.path.join(args.output, variant, f"seed{seed}.log")
        os.makedirs(os.path.dirname(log), exist_ok=True)
        start = time.time()
        with open(log, "w") as f:
            proc = subprocess.run(run_command(args, variant, seed, out_dir), cwd=REPO, env=env,
                                  stdout=f, stderr=subprocess.STDOUT)
        if proc.returncode != 0 or not os.path.exists(path):
            raise RuntimeError(f"{variant} seed {seed}: train_net.py exited {proc.returncode}; see {log}")
        with open(os.path.join(out_dir, "run_time.json"), "w") as f:
            json.dump({"seconds": time.time() - start}, f)
    with open(path) as f:
        return json.load(f)


def row_values(report: dict) -> dict:
    values = {f"VPQ@{k}": report["per_k"][str(k)]["VPQ"] for k in (0, 5, 10, 15)}
    values.update({key: report[key] for key in ("VPQ", "VPQ_th", "VPQ_st", "STQ")})
    return values


def aggregate(reports: dict) -> dict:
    """variant -> column -> (mean, std over seeds, per-seed values)."""
    table = {}
    for variant, per_seed in reports.items():
        rows = [row_values(r) for _, r in sorted(per_seed.items())]
        table[variant] = {
            col: {
                "mean": statistics.fmean(row[col] for row in rows),
                "std": statistics.stdev(row[col] for row in rows) if len(rows) > 1 else 0.0,
                "seeds": [row[col] for row in rows],
            }
            for col in COLUMNS
        }
    return table


def markdown_table(table: dict) -> str:
    lines = ["| variant | " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    for variant, cols in table.items():
        cells = [f"{cols[c]['mean']:.1f} ± {cols[c]['std']:.1f}" for c in COLUMNS]
        lines.append(f"| {LABELS[variant]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def replace_block(path: str, scale: str, block: str) -> None:
    """Replace the text between ``<!-- ablation:<scale>:begin/end -->`` in ``path`` (written atomically)."""
    begin, end = f"<!-- ablation:{scale}:begin -->", f"<!-- ablation:{scale}:end -->"
    with open(path) as f:
        text = f.read()
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        sys.exit(f"ablation: {path} has no '{begin}' ... '{end}' markers to replace")
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(pattern.sub(lambda _: f"{begin}\n{block}\n{end}", text))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("tiny", "r50"), default="tiny")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--test-dataset", default="synthetic_vps_test", help="where the runs are evaluated")
    parser.add_argument("--iters", type=int, default=0, help="override SOLVER.MAX_ITER (LR steps scaled)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at the same time")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of each run (0: unset)")
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per run, passed to train_net.py")
    parser.add_argument("--output", default=os.path.join(REPO, "ablation_output"))
    parser.add_argument("--model-zoo", help="MODEL_ZOO.md whose ablation block to replace")
    parser.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="more train_net.py opts")
    args = parser.parse_args(argv)
    if args.model_zoo and not os.path.isfile(args.model_zoo):
        parser.error(f"--model-zoo: {args.model_zoo} does not exist")
    if args.jobs < 1 or args.num_gpus < 1 or args.iters < 0 or args.threads < 0:
        parser.error("--jobs and --num-gpus must be >= 1; --iters and --threads >= 0")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    args.output = os.path.abspath(args.output)
    runs = [(v, s) for v in args.variants for s in args.seeds]
    reports = {v: {} for v in args.variants}
    failures = []
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(train_and_evaluate, args, v, s): (v, s) for v, s in runs}
        for future in tqdm(as_completed(futures), total=len(futures), desc="ablation runs", unit="run"):
            variant, seed = futures[future]
            try:
                reports[variant][seed] = future.result()
            except RuntimeError as e:
                failures.append(str(e))
    if failures:
        sys.exit("ablation: " + "; ".join(failures))
    table = aggregate(reports)
    block = markdown_table(table)
    atomic_write_json(os.path.join(args.output, "ablation.json"),
                      {"scale": args.scale, "iters": args.iters, "seeds": args.seeds, "table": table})
    with atomic_path(os.path.join(args.output, "ablation.md")) as tmp, open(tmp, "w") as f:
        f.write(block + "\n")
    print(block)
    if args.model_zoo:
        replace_block(args.model_zoo, args.scale, block)
        print(f"updated {args.model_zoo}")


if __name__ == "__main__":
    main()
