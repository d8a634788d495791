#!/usr/bin/env python
"""The Python half of dev/gpu_check.sh: small checks its steps call, and the final report.

    gpu_check_report.py versions FILE                   versions used (and the GPU), as JSON
    gpu_check_report.py extension-up-to-date            exit 0 if vps_d2._C for this interpreter is
                                                        newer than setup.py and every csrc source
    gpu_check_report.py extension FILE --need-cuda 0|1  vps_d2._C's build info; exit 1 if not built
                                                        (or, with 1, built without CUDA kernels)
    gpu_check_report.py no-skips JUNIT_XML              exit 1 if any test case was skipped
    gpu_check_report.py report --mode gpu|smoke --work DIR --out DIR

``report`` reads the work folder (steps.tsv, logs/, the benchmarks' JSON, the training output) and
writes gpu_check.json, gpu_check.md, gpu_check.log and loss_curve.png into --out, then prints the
markdown. The targets are SPEC §7's, judged on the GPU run only: the CPU smoke's toy sizes say
nothing about them.
"""

import argparse
import glob
import importlib.machinery
import json
import math
import os
import re
import statistics
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_NAMES = {
    "vpsnet_pp_f": "VPSNet++ f",
    "fusetrack": "FuseTrack",
    "panoptic_fpn": "Panoptic FPN R50",
}
FLOW_TARGET_SIZE = [1, 256, 256, 512]
FLOW_MUST, FLOW_GOAL, FLOW_MAX_ERROR = 2.0, 5.0, 1e-5
INFERENCE_MAX_RATIO, TRAIN_MAX_RATIO = 1.3, 2.5


# ---------------------------------------------------------------- checks called by the steps


def versions(path: str) -> None:
    import platform
    import subprocess
    from importlib.metadata import PackageNotFoundError, version

    info = {"python": platform.python_version(), "machine": platform.machine()}
    for dist in (
        "torch",
        "torchvision",
        "numpy",
        "opencv-python-headless",
        "scipy",
        "sal-detectron2",
        "fvcore",
        "pycocotools",
        "hotcoco",
    ):
        try:
            info[dist] = version(dist)
        except PackageNotFoundError:
            info[dist] = None
    import torch

    info["torch_cuda"] = torch.version.cuda
    info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    info["cuda_available"] = torch.cuda.is_available()
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_capability"] = f"{props.major}.{props.minor}"
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        )
        info["driver"] = smi.stdout.strip() or None
    info["cpu_count"] = os.cpu_count()
    print(json.dumps(info, indent=1))
    write_json(path, info)


def extension_sources() -> list:
    csrc = os.path.join(ROOT, "vps_d2", "layers", "csrc")
    return [os.path.join(ROOT, "setup.py")] + [
        p for p in glob.glob(os.path.join(csrc, "**", "*"), recursive=True) if os.path.isfile(p)
    ]


def extension_up_to_date() -> int:
    built = os.path.join(ROOT, "vps_d2", "_C" + importlib.machinery.EXTENSION_SUFFIXES[0])
    if not os.path.exists(built):
        print(f"{os.path.relpath(built, ROOT)} does not exist")
        return 1
    newest = max(extension_sources(), key=os.path.getmtime)
    if os.path.getmtime(newest) > os.path.getmtime(built):
        print(f"{os.path.relpath(newest, ROOT)} is newer than {os.path.relpath(built, ROOT)}")
        return 1
    return 0


def extension(path: str, need_cuda: bool) -> int:
    from vps_d2.layers import extension_info

    info = extension_info()
    print(info)
    write_json(path, info)
    if not info["built"]:
        print("vps_d2._C did not import")
        return 1
    if need_cuda and not info["cuda_kernels"]:
        print("vps_d2._C was built without its CUDA kernels")
        return 1
    return 0


def test_counts(path: str) -> dict:
    """Counts and skipped cases (with reasons) of a pytest JUnit XML file."""
    cases = list(ET.parse(path).getroot().iter("testcase"))
    skipped = []
    for case in cases:
        for skip in case.findall("skipped"):
            skipped.append(f"{case.get('classname')}.{case.get('name')}: {skip.get('message', '')}")
    failed = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
    return {
        "total": len(cases),
        "failed": failed,
        "skipped": len(skipped),
        "passed": len(cases) - failed - len(skipped),
        "skipped_cases": skipped,
    }


def no_skips(path: str) -> int:
    counts = test_counts(path)
    print(
        f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
    )
    for case in counts["skipped_cases"]:
        print(f"  skipped: {case}")
    return 1 if counts["skipped"] else 0


# ---------------------------------------------------------------- the report


def write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_steps(work: str) -> list:
    steps = []
    with open(os.path.join(work, "steps.tsv")) as f:
        for line in f:
            name, status, seconds, limit, note = line.rstrip("\n").split("\t")
            steps.append(
                {
                    "name": name,
                    "status": status,
                    "seconds": float(seconds),
                    "limit_s": int(limit),
                    "note": note,
                }
            )
    return steps


def model_results(work: str) -> dict:
    """(model, task, precision) -> {median_ms, mean_ms, peak_gib, ratio} from bench_model's JSON."""
    rows = {}
    for task in ("inference", "train"):
        data = read_json(os.path.join(work, f"model_{task}.json"))
        for r in (data or {}).get("results", []):
            rows[(r["model"], r["task"], r["precision"])] = {
                "median_ms": statistics.median(r["times"]) * 1e3,
                "mean_ms": statistics.fmean(r["times"]) * 1e3,
                "peak_gib": r["peak_gib"],
            }
    for (model, task, precision), row in rows.items():
        base = rows.get(("panoptic_fpn", task, precision))
        row["ratio"] = row["median_ms"] / base["median_ms"] if base else None
    return rows


def training_summary(work: str) -> dict:
    """Loss curve (detectron2's metrics.json: 20-iteration medians), step time, AMP, VPQ."""
    import yaml

    out = os.path.join(work, "train")
    curve = []
    try:
        with open(os.path.join(out, "metrics.json")) as f:
            for line in f:
                entry = json.loads(line)
                if "total_loss" in entry:
                    curve.append(
                        {
                            k: v
                            for k, v in entry.items()
                            if k in ("iteration", "time", "data_time", "lr") or "loss" in k
                        }
                    )
    except (OSError, ValueError):  # no or a torn metrics.json: the step's failure is reported elsewhere
        pass
    summary = {"curve": curve}
    log = os.path.join(work, "logs", "train.log")
    text = open(log, errors="replace").read() if os.path.exists(log) else ""
    speed = re.search(
        r"Overall training speed: (\d+) iterations in (\S+) \(([\d.]+) s / it\)", text
    )
    if speed:
        summary["timed_iterations"] = int(speed.group(1))
        summary["seconds_per_iteration"] = float(speed.group(3))
    try:
        with open(os.path.join(out, "config.yaml")) as f:
            cfg = yaml.safe_load(f)
        summary["amp"] = bool(cfg["SOLVER"]["AMP"]["ENABLED"])
        summary["pairs_per_iteration"] = cfg["SOLVER"]["IMS_PER_BATCH"]
        summary["crop"] = list(cfg["INPUT"]["CROP"]["SIZE"])
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        summary["amp"] = None
    if curve:
        summary["iterations"] = curve[-1]["iteration"] + 1
        summary["first_total_loss"] = curve[0]["total_loss"]
        summary["last_total_loss"] = curve[-1]["total_loss"]
        summary["losses_finite"] = all(math.isfinite(c["total_loss"]) for c in curve)
    results = glob.glob(os.path.join(out, "inference", "*", "vpq_results.json"))
    if results:
        vpq = read_json(results[0])
        summary["evaluation"] = {k: vpq[k] for k in ("VPQ", "VPQ_th", "VPQ_st", "STQ") if k in vpq}
        summary["evaluation"].update(
            {f"VPQ@{k}": v["VPQ"] for k, v in vpq.get("per_k", {}).items()}
        )
    return summary


def target(name, measured, bar, met):
    return {"target": name, "measured": measured, "bar": bar, "met": met}


def judge_targets(mode, steps, tests, flow, models, training) -> list:
    """SPEC §7's targets as measured in this run; ``met`` is None where not measured."""
    if mode != "gpu":
        return []
    status = {s["name"]: s["status"] for s in steps}
    out = [
        target(
            "CUDA tests (CUDA = CPU = float64 reference, gradients)",
            (
                f"{tests['passed']} passed, {tests['failed']} failed, {tests['skipped']} skipped"
                if tests
                else "not run"
            ),
            "all pass, none skipped",
            bool(tests) and status.get("tests") == "ok",
        )
    ]
    case = next(
        (
            c
            for c in (flow or {}).get("cases", [])
            if c["size"] == FLOW_TARGET_SIZE and c["precision"] == "fp32"
        ),
        None,
    )
    if case:
        speed, err = case["speedup_forward_backward"], case["max_abs_error_vs_float64"]["kernel"]
        out += [
            target(
                "flow warp (1, 256, 256, 512) fp32 fwd+bwd vs grid_sample (must)",
                f"{speed:.2f}×",
                f"≥ {FLOW_MUST:g}×",
                speed >= FLOW_MUST,
            ),
            target(
                "flow warp, same (goal)", f"{speed:.2f}×", f"≥ {FLOW_GOAL:g}×", speed >= FLOW_GOAL
            ),
            target(
                "flow warp error vs float64",
                f"{err:.1e}",
                f"≤ {FLOW_MAX_ERROR:g}",
                err <= FLOW_MAX_ERROR,
            ),
        ]
    else:
        out.append(
            target(
                "flow warp (1, 256, 256, 512) fp32 vs grid_sample",
                "not measured",
                f"≥ {FLOW_MUST:g}×",
                None,
            )
        )
    for task, bar in (("inference", INFERENCE_MAX_RATIO), ("train", TRAIN_MAX_RATIO)):
        for precision in ("fp32", "amp"):
            row = models.get(("vpsnet_pp_f", task, precision))
            ratio = row and row["ratio"]
            name = (
                "online inference per frame, 1024×2048"
                if task == "inference"
                else "training step, 800×1600"
            )
            out.append(
                target(
                    f"VPSNet++ f {name}, {precision}, × Panoptic FPN R50",
                    f"{ratio:.2f}×" if ratio else "not measured",
                    f"≤ {bar:g}×",
                    ratio <= bar if ratio else None,
                )
            )
    amp_runs = [models.get((m, t, "amp")) for m in MODEL_NAMES for t in ("inference", "train")]
    amp_ok = bool(
        all(amp_runs)
        and status.get("train") == "ok"
        and training.get("amp")
        and training.get("losses_finite")
    )
    out.append(
        target(
            "AMP works",
            f"{sum(1 for r in amp_runs if r)}/6 AMP benchmark runs; AMP training "
            + ("finished, finite losses" if amp_ok else "did not finish cleanly"),
            "all",
            amp_ok,
        )
    )
    return out


def fmt(value, spec=".2f"):
    return "" if value is None else format(value, spec)


def markdown(report: dict) -> str:
    env, lines = report["versions"], []
    gpu = env.get("gpu") or "no GPU"
    lines += [
        f"# vps_d2 GPU check ({report['mode']}): {gpu}",
        "",
        f"{report['date']}; {report['total_seconds']:.0f} s in all. Python {env.get('python')}, "
        f"torch {env.get('torch')} (CUDA {env.get('torch_cuda')}, cuDNN {env.get('cudnn')}), "
        f"numpy {env.get('numpy')}, detectron2 (sal-detectron2) {env.get('sal-detectron2')}, "
        f"driver {env.get('driver')}, {env.get('cpu_count')} CPUs; "
        f"vps_d2._C: {report['extension']}.",
        "",
    ]
    lines += [
        "## Steps",
        "",
        "| step | status | seconds | limit s | note |",
        "|---|---|---:|---:|---|",
    ]
    lines += [
        f"| {s['name']} | {s['status']} | {s['seconds']:.1f} | {s['limit_s']} | {s['note']} |"
        for s in report["steps"]
    ]
    if report["mode"] == "gpu":
        lines += [
            "",
            "## Targets (SPEC §7)",
            "",
            "| target | measured | bar | met |",
            "|---|---|---|---|",
        ]
        yes = {True: "yes", False: "**no**", None: "not measured"}
        lines += [
            f"| {t['target']} | {t['measured']} | {t['bar']} | {yes[t['met']]} |"
            for t in report["targets"]
        ]
    else:
        lines += [
            "",
            "CPU smoke: toy sizes, so no target is judged; the figures only show that every step "
            "runs.",
        ]
    flow = report.get("flow_warp")
    if flow:
        lines += [
            "",
            "## Flow warp (benchmarks/bench_flow_warp.py)",
            "",
            f"{flow['machine']}; median of {flow['iters']} runs.",
            "",
            "| size (N, C, H, W) | precision | kernel fwd ms | grid_sample fwd ms "
            "| kernel fwd+bwd ms | grid_sample fwd+bwd ms | speed-up fwd / fwd+bwd "
            "| max error vs float64 (kernel / grid_sample) |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for c in flow["cases"]:
            f, fb, e = c["forward_ms"], c["forward_backward_ms"], c["max_abs_error_vs_float64"]
            lines.append(
                f"| {tuple(c['size'])} | {c['precision']} | {f['kernel']:.3f} "
                f"| {f['grid_sample']:.3f} | {fb['kernel']:.3f} | {fb['grid_sample']:.3f} "
                f"| {c['speedup_forward']:.2f}× / {c['speedup_forward_backward']:.2f}× "
                f"| {e['kernel']:.1e} / {e['grid_sample']:.1e} |"
            )
    if report["models"]:
        memory = "peak GPU memory GiB" if report["mode"] == "gpu" else "worker peak RSS GiB"
        lines += [
            "",
            "## Models (benchmarks/bench_model.py)",
            "",
            f"| model | task | precision | median ms | mean ms | {memory} | × Panoptic FPN |",
            "|---|---|---|---:|---:|---:|---:|",
        ]
        for r in report["models"]:
            lines.append(
                f"| {MODEL_NAMES[r['model']]} | {r['task']} | {r['precision']} "
                f"| {r['median_ms']:.1f} | {r['mean_ms']:.1f} | {r['peak_gib']:.2f} "
                f"| {fmt(r['ratio'])}× |"
            )
    tr = report["training"]
    lines += ["", "## R50 VPSNet++ f training on synthetic videos", ""]
    if tr.get("curve"):
        speed = (
            f"{tr['seconds_per_iteration']:.3f} s / iteration over the last "
            f"{tr['timed_iterations']}"
            if "seconds_per_iteration" in tr
            else "no step time (detectron2 times iterations after the 3rd)"
        )
        precision = {True: "AMP", False: "fp32", None: "precision unknown"}[tr["amp"]]
        crop = "×".join(map(str, tr.get("crop", []))) or "?"
        lines.append(
            f"{tr['iterations']} iterations of {tr.get('pairs_per_iteration')} pairs "
            f"({crop} crops, "
            f"{precision}), {speed}; total loss "
            f"{tr['first_total_loss']:.3f} → {tr['last_total_loss']:.3f} (loss_curve.png)."
        )
        lines += ["", "| iteration | total loss | s / it (window median) |", "|---:|---:|---:|"]
        lines += [
            f"| {c['iteration'] + 1} | {c['total_loss']:.3f} | {fmt(c.get('time'), '.3f')} |"
            for c in tr["curve"]
        ]
    else:
        lines.append("No training metrics (see the train step).")
    if tr.get("evaluation"):
        ev = tr["evaluation"]
        lines += [
            "",
            "Evaluation on its validation videos: "
            + ", ".join(f"{k} {v:.1f}" for k, v in ev.items())
            + ".",
        ]
    return "\n".join(lines) + "\n"


def plot_loss_curve(curve: list, path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    iters = [c["iteration"] + 1 for c in curve]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in sorted({k for c in curve for k in c if "loss" in k}):
        values = [c.get(key) for c in curve]
        ax.plot(iters, values, label=key, linewidth=2.5 if key == "total_loss" else 1)
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (20-iteration median)")
    ax.set_title("R50 VPSNet++ f on synthetic videos")
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def write_log(work: str, steps: list, path: str) -> None:
    """Every step's full log, in order, each under a header."""
    with open(path, "w") as f:
        for step in steps:
            f.write(
                f"===== {step['name']}: {step['status']} in {step['seconds']:.1f} s "
                f"(limit {step['limit_s']} s) {step['note']}\n"
            )
            log = os.path.join(work, "logs", f"{step['name']}.log")
            if os.path.exists(log):
                f.write(open(log, errors="replace").read())
            if step["name"] == "train" and os.path.exists(os.path.join(work, "logs", "data.log")):
                f.write("===== synthetic data for the train step\n")
                f.write(open(os.path.join(work, "logs", "data.log"), errors="replace").read())


def report(args) -> int:
    import datetime

    steps = read_steps(args.work)
    xml = os.path.join(args.work, "tests.xml")
    tests = test_counts(xml) if os.path.exists(xml) else None
    flow = read_json(os.path.join(args.work, "flow_warp.json"))
    models = model_results(args.work)
    training = training_summary(args.work)
    ext = read_json(os.path.join(args.work, "extension.json")) or {}
    report = {
        "mode": args.mode,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "total_seconds": sum(s["seconds"] for s in steps),
        "versions": read_json(os.path.join(args.work, "versions.json")) or {},
        "extension": ", ".join(f"{k} {v}" for k, v in ext.items()) or "unknown",
        "steps": steps,
        "tests": tests,
        "targets": judge_targets(args.mode, steps, tests, flow, models, training),
        "flow_warp": flow,
        "models": [
            {"model": m, "task": t, "precision": p, **row} for (m, t, p), row in models.items()
        ],
        "training": training,
    }
    os.makedirs(args.out, exist_ok=True)
    if training["curve"]:
        plot_loss_curve(training["curve"], os.path.join(args.out, "loss_curve.png"))
    write_log(args.work, steps, os.path.join(args.out, "gpu_check.log"))
    write_json(os.path.join(args.out, "gpu_check.json"), report)
    text = markdown(report)
    with open(os.path.join(args.out, "gpu_check.md"), "w") as f:
        f.write(text)
    print(text)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("versions").add_argument("file")
    sub.add_parser("extension-up-to-date")
    p = sub.add_parser("extension")
    p.add_argument("file")
    p.add_argument("--need-cuda", type=int, choices=(0, 1), default=0)
    sub.add_parser("no-skips").add_argument("junit_xml")
    p = sub.add_parser("report")
    p.add_argument("--mode", choices=("gpu", "smoke"), required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "versions":
        return versions(args.file) or 0
    if args.command == "extension-up-to-date":
        return extension_up_to_date()
    if args.command == "extension":
        return extension(args.file, bool(args.need_cuda))
    if args.command == "no-skips":
        return no_skips(args.junit_xml)
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
