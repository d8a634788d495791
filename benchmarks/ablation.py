#!/usr/bin/env python
"""The synthetic ablation (issue 13, SPEC §7, §9): the paper's Tables II and IV at synthetic scale.

The paper's protocol (§V-D1): a Base (image-level) model is trained first; every variant imports its
parameters and initialises only its own new heads (fuse, track, edge), then trains for the rest of the
schedule. So per seed: ``_base_stage/seed<S>`` trains Base for ``--base-iters``; every variant
(Base itself included) fine-tunes from its ``model_final.pth`` for ``--iters - --base-iters``, so
all variants get the same total schedule (``--base-iters 0``: every variant from scratch). Each
variant's ``weights_load_report.json`` says which modules came from Base. Table IV's tracking-cue
rows (Cls-Sort, IoU-Match, Feat-Match: one cue of the affinity alone, SPEC §9) are evaluation-only
runs of the same FuseTrack weights.

Every run is ``train_net.py`` (training on the split's train set, final evaluation on its held-out
test set; SPEC §9: tune on val only) into ``OUTPUT/<row>/seed<S>/``. Two scales:

* ``--scale r50`` (a GPU): ``configs/Synthetic-VPS/vpsnet_<variant>_R_50_FPN_3k_synthetic_vps.yaml``;
* ``--scale tiny`` (the CPU): ``configs/quick_schedules/tiny_vpsnet_pp_cpu.yaml`` with the variant's
  switches (``MODEL.VPS.*``, ``MODEL.FUSE`` directions and ``MODEL.TRACK_HEAD.NAME``) read from the
  R50 config, so both scales ablate exactly the same components.

``--split hard`` uses ``synthetic_vps_hard_*`` (per-frame degradations, look-alike crossings, hidden
objects, thin structures; datasets/README.md). A run whose ``vpq_results.json`` exists is not run
again, so an interrupted ablation continues where it stopped. Tables (mean ± std over seeds), the
orderings the paper claims as paired per-seed differences with standard errors, every seed's values (``ablation.json``) and one plot per
table go to ``OUTPUT``; ``--model-zoo MODEL_ZOO.md`` also replaces the block between the
``<!-- ablation:<scale>:<split>:begin/end -->`` markers there.

    python benchmarks/ablation.py --scale tiny --split hard --iters 1200 --base-iters 1000 --jobs 2 --threads 1
    python benchmarks/ablation.py --scale r50 --split hard --iters 3000 --base-iters 2000 MODEL.WEIGHTS /path/to/R-50.pkl
"""
import argparse
import json
import math
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

VARIANTS = ("base", "align", "attend", "fuse", "track", "fusetrack",
            "pp_a", "pp_b", "pp_c", "pp_d", "pp_e", "pp_f")
# Not the paper's: the refined flow supervised by the ground-truth flow (MODEL.FUSE.FLOW_LOSS_WEIGHT,
# issue 22); run only when asked for (--variants), on a training split prepared with --flow.
FLOW_VARIANTS = ("fuse_flow", "fusetrack_flow")
# Table IV's tracking-cue rows: FuseTrack's weights with one affinity cue alone (SPEC §9).
CUES = {
    "cls_sort": {"CLASS_WEIGHT": 10.0, "SCORE_WEIGHT": 1.0},
    "iou_match": {"MASK_IOU_WEIGHT": 2.0},
    "feat_match": {"APPEARANCE_WEIGHT": 1.0},
}
CUE_SOURCE = "fusetrack"
LABELS = {
    "base": "Base",
    "align": "Align",
    "attend": "Attend",
    "fuse": "Fuse",
    "track": "Track",
    "fusetrack": "FuseTrack",
    "cls_sort": "FuseTrack, Cls-Sort only",
    "iou_match": "FuseTrack, IoU-Match only",
    "feat_match": "FuseTrack, Feat-Match only",
    "pp_a": "VPSNet++ a. Bi-Fuse",
    "pp_b": "VPSNet++ b. Contra-Track",
    "pp_c": "VPSNet++ c. Pan-Edge",
    "pp_d": "VPSNet++ d. Tube-Disc",
    "pp_e": "VPSNet++ e. a + d",
    "pp_f": "VPSNet++ f. a + b + c + d",
    "fuse_flow": "Fuse + flow loss",
    "fusetrack_flow": "FuseTrack + flow loss",
}
TABLE_II = ("base", "align", "attend", "fuse", "track", "fusetrack", "fuse_flow", "fusetrack_flow")
TABLE_IV = ("track", "fusetrack", "cls_sort", "iou_match", "feat_match",
            "pp_a", "pp_b", "pp_c", "pp_d", "pp_e", "pp_f", "fusetrack_flow")
TABLE_II_COLUMNS = ("PQ", "PQ_th", "PQ_st", "VPQ_th")
TABLE_IV_COLUMNS = ("VPQ@0", "VPQ@5", "VPQ@10", "VPQ@15", "VPQ", "VPQ_th", "VPQ_st", "STQ")
COLUMNS = tuple(dict.fromkeys(TABLE_II_COLUMNS + TABLE_IV_COLUMNS))
KS = (0, 5, 10, 15)
# The orderings the paper claims that this ablation tests: (better, worse, columns).
ORDERINGS = (
    ("fuse", "base", ("PQ",)),
    ("fusetrack", "track", ("VPQ",)),
    ("feat_match", "iou_match", ("VPQ@5", "VPQ@10", "VPQ@15")),
    ("iou_match", "cls_sort", ("VPQ@5", "VPQ@10", "VPQ@15")),
    ("pp_f", "fusetrack", ("VPQ",)),
    ("fuse_flow", "base", ("PQ",)),
    ("fuse_flow", "fuse", ("PQ",)),
    ("fusetrack_flow", "track", ("VPQ",)),
    ("fusetrack_flow", "fusetrack", ("VPQ",)),
)
# Every variant must learn a detector: VPQ^Th at least this fraction of the best variant's.
DETECTOR_FRACTION = 0.8
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
    "MODEL.FUSE.FLOW_LOSS_WEIGHT",
    "MODEL.TRACKER.APPEARANCE_WEIGHT",
)
TINY_CONFIG = os.path.join(REPO, "configs", "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
DATASETS = {"clean": "synthetic_vps", "hard": "synthetic_vps_hard"}
BASE_STAGE = "_base_stage"


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
    """A schedule of ``iters`` with the configs' shape: LR steps at 75 % and 92 %; only the final
    checkpoint is saved."""
    steps = f"({int(iters * 0.75)}, {int(iters * 0.92)})"
    return ["SOLVER.MAX_ITER", str(iters), "SOLVER.STEPS", steps, "SOLVER.CHECKPOINT_PERIOD", str(10 ** 9)]


def dataset(args, part: str) -> str:
    return f"{DATASETS[args.split]}_{part}"


def run_dir(args, row: str, seed: int) -> str:
    return os.path.join(args.output, row, f"seed{seed}")


def base_weights(args, seed: int) -> str:
    return os.path.join(run_dir(args, BASE_STAGE, seed), "model_final.pth")


def config_and_switches(args, variant: str) -> list:
    if args.scale == "tiny":
        return ["--config-file", TINY_CONFIG, *variant_switches(variant)]
    return ["--config-file", r50_config(variant)]


def train_command(args, variant: str, seed: int, stage: str = "") -> list:
    """``train_net.py`` for ``variant``; ``stage`` "base" is the Base stage of the protocol, else the
    variant is fine-tuned from it (or, with ``--base-iters 0``, trained from scratch)."""
    if stage == "base":
        out_dir, iters, opts = run_dir(args, BASE_STAGE, seed), args.base_iters, ["DATASETS.TEST", "()"]
    else:
        out_dir, iters = run_dir(args, variant, seed), args.iters - args.base_iters
        opts = ["DATASETS.TEST", f"('{dataset(args, 'test')}',)"]
        if args.base_iters:
            opts += ["MODEL.WEIGHTS", base_weights(args, seed)]
    if iters:
        opts += schedule_opts(iters)
    return [sys.executable, os.path.join(REPO, "train_net.py"), "--num-gpus", str(args.num_gpus),
            *config_and_switches(args, variant), *opts,
            "DATASETS.TRAIN", f"('{dataset(args, 'train')}',)", "SEED", str(seed), "OUTPUT_DIR", out_dir,
            *args.opts]


def cue_command(args, cue: str, seed: int) -> list:
    """Evaluation only: FuseTrack's final weights, the tracker with one cue alone."""
    weights = {key: 0.0 for key in ("APPEARANCE_WEIGHT", "MASK_IOU_WEIGHT", "BOX_IOU_WEIGHT",
                                    "CLASS_WEIGHT", "SCORE_WEIGHT")}
    weights.update(CUES[cue])
    opts = [x for key, value in weights.items() for x in (f"MODEL.TRACKER.{key}", str(value))]
    return [sys.executable, os.path.join(REPO, "train_net.py"), "--eval-only", "--num-gpus", str(args.num_gpus),
            *config_and_switches(args, CUE_SOURCE), *opts,
            "MODEL.WEIGHTS", os.path.join(run_dir(args, CUE_SOURCE, seed), "model_final.pth"),
            "DATASETS.TEST", f"('{dataset(args, 'test')}',)", "SEED", str(seed),
            "OUTPUT_DIR", run_dir(args, cue, seed), *args.opts]


def results_path(args, row: str, seed: int) -> str:
    return os.path.join(run_dir(args, row, seed), "inference", dataset(args, "test"), "vpq_results.json")


def run_logged(args, command: list, out_dir: str, done: str, what: str) -> None:
    """Run ``command`` unless ``done`` exists; its log is ``<out_dir>.log``, its time ``run_time.json``."""
    if os.path.exists(done):
        return
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    log = out_dir + ".log"
    os.makedirs(os.path.dirname(log), exist_ok=True)
    start = time.time()
    with open(log, "w") as f:
        proc = subprocess.run(command, cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0 or not os.path.exists(done):
        raise RuntimeError(f"{what}: train_net.py exited {proc.returncode}; see {log}")
    atomic_write_json(os.path.join(out_dir, "run_time.json"), {"seconds": time.time() - start})


def run_row(args, row: str, seed: int, waits_for=None) -> dict:
    """One row's run for one seed, after the run it starts from (``waits_for``); returns its report."""
    if waits_for is not None:
        waits_for.result()
    if row in CUES:
        command = cue_command(args, row, seed)
    else:
        command = train_command(args, row, seed)
    run_logged(args, command, run_dir(args, row, seed), results_path(args, row, seed), f"{row} seed {seed}")
    with open(results_path(args, row, seed)) as f:
        return json.load(f)


def run_base_stage(args, seed: int) -> None:
    run_logged(args, train_command(args, "base", seed, stage="base"), run_dir(args, BASE_STAGE, seed),
               base_weights(args, seed), f"Base stage seed {seed}")


def run_seconds(args, rows) -> float:
    """The summed time of every run of the ablation (Base stages included), from ``run_time.json``."""
    total = 0.0
    for row in [BASE_STAGE, *rows]:
        for seed in args.seeds:
            path = os.path.join(run_dir(args, row, seed), "run_time.json")
            if os.path.exists(path):
                with open(path) as f:
                    total += json.load(f)["seconds"]
    return total


def row_values(report: dict) -> dict:
    values = {f"VPQ@{k}": report["per_k"][str(k)]["VPQ"] for k in KS}
    values.update({key: report[key] for key in ("PQ", "PQ_th", "PQ_st", "VPQ", "VPQ_th", "VPQ_st", "STQ")})
    return values


def aggregate(reports: dict) -> dict:
    """row -> column -> {mean, std over seeds, per-seed values}."""
    table = {}
    for row, per_seed in reports.items():
        values = [row_values(r) for _, r in sorted(per_seed.items())]
        table[row] = {
            col: {
                "mean": statistics.fmean(v[col] for v in values),
                "std": statistics.stdev(v[col] for v in values) if len(values) > 1 else 0.0,
                "seeds": [v[col] for v in values],
            }
            for col in COLUMNS
        }
    return table


def markdown_table(table: dict, rows, columns) -> str:
    lines = ["| variant | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for row in rows:
        if row in table:
            cells = [f"{table[row][c]['mean']:.1f} ± {table[row][c]['std']:.1f}" for c in columns]
            lines.append(f"| {LABELS[row]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def orderings(table: dict, seeds) -> list:
    """The paper's orderings, paired by seed: every seed's two rows start from the same Base stage,
    so the difference per seed removes what the seeds share. An ordering is claimed only where the
    mean difference exceeds 2 standard errors (SE = std of the differences / sqrt(seeds)); "reversed"
    where it is below -2 SE; else "not resolved"."""
    found = []
    for better, worse, columns in ORDERINGS:
        if better not in table or worse not in table:
            continue
        for col in columns:
            diffs = [a - b for a, b in zip(table[better][col]["seeds"], table[worse][col]["seeds"])]
            mean = statistics.fmean(diffs)
            se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else float("inf")
            verdict = "holds" if mean > 2 * se else ("reversed" if mean < -2 * se else "not resolved")
            found.append({"better": better, "worse": worse, "column": col, "mean_difference": mean,
                          "standard_error": se, "positive_seeds": sum(d > 0 for d in diffs),
                          "differences": dict(zip(seeds, diffs)), "verdict": verdict})
    return found


def detector_check(table: dict) -> dict:
    """Every trained variant's VPQ^Th against ``DETECTOR_FRACTION`` x the best one's."""
    trained = {row: cols["VPQ_th"]["mean"] for row, cols in table.items() if row not in CUES}
    best = max(trained.values())
    return {"best": best, "fraction": DETECTOR_FRACTION,
            "below": sorted(row for row, v in trained.items() if v < DETECTOR_FRACTION * best),
            "ratio": {row: v / best if best else 0.0 for row, v in trained.items()}}


def orderings_markdown(found: list, detector: dict) -> str:
    if detector["best"] <= 0:
        verdict = "no: no variant detects anything (VPQ^Th 0)"
    elif detector["below"]:
        verdict = "no: " + ", ".join(LABELS[r] for r in detector["below"])
    else:
        verdict = "yes"
    lines = [f"- Every variant learns a detector (VPQ^Th ≥ {detector['fraction']} × the best, "
             f"{detector['best']:.1f}): {verdict} (lowest ratio {min(detector['ratio'].values()):.2f})."]
    for o in found:
        n = len(o["differences"])
        lines.append(f"- {LABELS[o['better']]} > {LABELS[o['worse']]} in {o['column']}: paired difference "
                     f"{o['mean_difference']:+.2f} ± {o['standard_error']:.2f} (SE, {n} seeds; positive in "
                     f"{o['positive_seeds']} of {n}): {o['verdict']}.")
    return "\n".join(lines)


def plot_tables(table: dict, out_dir: str, subtitle: str = "") -> list:
    """``table_ii.png`` (image PQ with error bars per variant) and ``table_iv.png`` (VPQ against k,
    the rows side by side around each k)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    rows = [r for r in TABLE_II if r in table]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(range(len(rows)), [table[r]["PQ"]["mean"] for r in rows],
           yerr=[table[r]["PQ"]["std"] for r in rows], capsize=4, color="tab:blue")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([LABELS[r] for r in rows], rotation=20)
    ax.set_ylabel("image PQ (%), mean ± std over seeds")
    ax.set_title(f"Table II at synthetic scale {subtitle}".strip())
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    paths.append(_save(fig, os.path.join(out_dir, "table_ii.png")))
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    rows = [r for r in TABLE_IV if r in table]
    for i, row in enumerate(rows):
        ks = [k + 2.0 * (i - (len(rows) - 1) / 2) / len(rows) for k in KS]
        ax.errorbar(ks, [table[row][f"VPQ@{k}"]["mean"] for k in KS], yerr=[table[row][f"VPQ@{k}"]["std"] for k in KS],
                    marker="o", capsize=3, label=LABELS[row], linestyle="--" if row in CUES else "-",
                    color=plt.get_cmap("tab20").colors[i % 20])
    ax.set_xticks(KS)
    ax.set_xlabel("window size k (frames)")
    ax.set_ylabel("VPQ^k (%), mean ± std over seeds")
    ax.set_title(f"Table IV at synthetic scale {subtitle}".strip())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    paths.append(_save(fig, os.path.join(out_dir, "table_iv.png")))
    plt.close(fig)
    return paths


def _save(fig, path: str) -> str:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path


def replace_block(path: str, name: str, block: str) -> None:
    """Replace the text between ``<!-- ablation:<name>:begin/end -->`` in ``path`` (written atomically)."""
    begin, end = f"<!-- ablation:{name}:begin -->", f"<!-- ablation:{name}:end -->"
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
    parser.add_argument("--split", choices=tuple(DATASETS), default="hard",
                        help="synthetic_vps (clean) or synthetic_vps_hard: train on its train, report on its test")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS + FLOW_VARIANTS, default=list(VARIANTS))
    parser.add_argument("--no-cues", action="store_true", help="skip Table IV's tracking-cue rows")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--iters", type=int, default=0,
                        help="total iterations of every variant, Base stage included (0: the config's)")
    parser.add_argument("--base-iters", type=int, default=0,
                        help="iterations of the Base stage every variant starts from (0: from scratch)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at the same time")
    parser.add_argument("--threads", type=int, default=0, help="OMP_NUM_THREADS of each run (0: unset)")
    parser.add_argument("--num-gpus", type=int, default=1, help="processes per run, passed to train_net.py")
    parser.add_argument("--output", default=os.path.join(REPO, "ablation_output"))
    parser.add_argument("--model-zoo", help="MODEL_ZOO.md whose ablation block to replace")
    parser.add_argument("opts", nargs=argparse.REMAINDER, default=[], help="more train_net.py opts")
    args = parser.parse_args(argv)
    if args.model_zoo and not os.path.isfile(args.model_zoo):
        parser.error(f"--model-zoo: {args.model_zoo} does not exist")
    if args.jobs < 1 or args.num_gpus < 1 or min(args.iters, args.base_iters, args.threads) < 0:
        parser.error("--jobs and --num-gpus must be >= 1; --iters, --base-iters and --threads >= 0")
    if args.base_iters and not 0 < args.base_iters < args.iters:
        parser.error(f"--base-iters {args.base_iters} must be below --iters {args.iters} (the total schedule)")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    args.output = os.path.abspath(args.output)
    rows = list(args.variants)
    if not args.no_cues and CUE_SOURCE in rows:
        rows += list(CUES)
    reports = {row: {} for row in rows}
    failures = []
    # Runs start in submission order (Base stages, variants, cue rows), so a run waiting for the one
    # it starts from never holds the worker that run needs.
    with ThreadPoolExecutor(args.jobs) as pool:
        base = {s: pool.submit(run_base_stage, args, s) if args.base_iters else None for s in args.seeds}
        futures = {pool.submit(run_row, args, v, s, base[s]): (v, s) for s in args.seeds for v in args.variants}
        source = {s: f for f, (v, s) in futures.items() if v == CUE_SOURCE}
        futures.update({pool.submit(run_row, args, c, s, source[s]): (c, s)
                        for s in args.seeds for c in rows if c in CUES})
        for future in tqdm(as_completed(futures), total=len(futures), desc="ablation runs", unit="run"):
            row, seed = futures[future]
            try:
                reports[row][seed] = future.result()
            except RuntimeError as e:
                failures.append(str(e))
    if failures:
        sys.exit("ablation: " + "; ".join(dict.fromkeys(failures)))
    table = aggregate(reports)
    found, detector = orderings(table, args.seeds), detector_check(table)
    block = "\n\n".join([
        "Table II (image PQ on the test split's annotated frames):",
        markdown_table(table, TABLE_II, TABLE_II_COLUMNS),
        "Table IV (VPQ per window k, raw frames):",
        markdown_table(table, TABLE_IV, TABLE_IV_COLUMNS),
        orderings_markdown(found, detector),
    ])
    plots = plot_tables(table, args.output, f"({args.scale}, {args.split} split, {len(args.seeds)} seeds)")
    atomic_write_json(os.path.join(args.output, "ablation.json"), {
        "scale": args.scale, "split": args.split, "iters": args.iters, "base_iters": args.base_iters,
        "seeds": args.seeds, "table": table, "orderings": found, "detector": detector,
        "run_seconds": run_seconds(args, rows),
    })
    with atomic_path(os.path.join(args.output, "ablation.md")) as tmp, open(tmp, "w") as f:
        f.write(block + "\n")
    print(block)
    print(f"plots: {', '.join(plots)}; the runs took {run_seconds(args, rows) / 3600:.2f} h in all "
          f"(Base stages included; {args.jobs} at a time)")
    if args.model_zoo:
        replace_block(args.model_zoo, f"{args.scale}:{args.split}", block)
        print(f"updated {args.model_zoo}")


if __name__ == "__main__":
    main()
