#!/usr/bin/env python
"""Benchmark of the flow warp: the compiled kernel against grid_sample.

For each size it times forward and forward+backward (gradients for x and flow) of

* ``kernel``: ``flow_warp(..., impl="cuda" | "cpu")`` (vps_d2._C);
* ``grid_sample``: ``flow_warp(..., impl="pytorch")``, i.e. ``flow_warp_reference``: building the
  normalised grid from the flow, then ``F.grid_sample(align_corners=True)``, which is what a model
  without the kernel runs; the forward of ``F.grid_sample`` alone on a prebuilt grid is reported
  too,

in float32 and under ``torch.autocast`` (float16 features and a float32 flow on CUDA, bfloat16 on
the CPU; both implementations then compute in float32, grid_sample by its autocast promotion, the
kernel by its documented float32 casting). The "GB/s" columns are an effective bandwidth: the
minimum bytes the op has to move divided by the time; forward: read x and flow, write out;
backward adds: read grad_out, x and flow, write grad_x and grad_flow.

    python benchmarks/bench_flow_warp.py                 # CUDA if available, else CPU
    python benchmarks/bench_flow_warp.py --device cpu    # CPU kernel vs grid_sample, smaller sizes
    python benchmarks/bench_flow_warp.py --device cuda --sizes 1x256x256x512 2x256x200x400

Prints a markdown table (paste it into benchmarks/README.md, with the machine line it prints);
``--json FILE`` also writes the measurements (dev/gpu_check.sh reads them).
"""
import argparse
import contextlib
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vps_d2.layers.flow_warp import (  # noqa: E402
    cpu_kernel_available,
    cuda_kernel_available,
    flow_warp,
)

GPU_SIZES = ["1x256x256x512", "2x256x200x400"]
CPU_SIZES = ["1x256x64x128", "2x256x50x100"]


def parse_size(text):
    n, c, h, w = (int(v) for v in text.lower().split("x"))
    return n, c, h, w


def smooth_flow(n, h, w, device, seed=0):
    """Smooth random flow of a few pixels (as between neighbouring frames), float32."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, 2, 4, 8, generator=g) * 4
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False).to(device)


def keep_freed_memory():
    """CPU runs: make glibc reuse freed buffers instead of unmapping them (M_MMAP_THRESHOLD,
    M_TRIM_THRESHOLD). Otherwise every multi-MB output is a fresh mmap whose page faults (slow in
    a VM) dominate and vary with allocation order; a training loop reaches the reuse steady state
    anyway. Returns whether it applied."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3
        return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(
            libc.mallopt(m_trim_threshold, 1 << 31)
        )
    except (OSError, AttributeError):
        return False


def machine_line(device):
    if device.type == "cuda":
        return (
            f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}, "
            f"CUDA {torch.version.cuda}"
        )
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        cpu = f"{names[0]} x {len(names)} logical CPUs" if names else cpu
    except OSError:
        pass
    return f"{cpu}, torch {torch.__version__}, {torch.get_num_threads()} intra-op threads"


class Timer:
    """Median wall times of callables, run interleaved (one call of each per round) so that a
    changing machine load affects them alike; CUDA events on a GPU."""

    def __init__(self, device, warmup, iters):
        self.device, self.warmup, self.iters = device, warmup, iters

    def _once(self, fn):
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def __call__(self, *fns):
        for _ in range(self.warmup):
            for fn in fns:
                fn()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        times = [[] for _ in fns]
        for _ in range(self.iters):
            for t, fn in zip(times, fns):
                t.append(self._once(fn))
        return [statistics.median(t) for t in times]


def run_case(size, device, autocast, timer):
    n, c, h, w = size
    x32 = torch.randn(n, c, h, w, device=device)
    flow = smooth_flow(n, h, w, device)
    if autocast:
        amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        x_in = x32.to(amp_dtype)
        ctx = lambda: torch.autocast(device.type, dtype=amp_dtype)  # noqa: E731
    else:
        x_in = x32
        ctx = contextlib.nullcontext
    kernel_impl = "cuda" if device.type == "cuda" else "cpu"
    x_leaf = x_in.detach().clone().requires_grad_()
    f_leaf = flow.detach().clone().requires_grad_()
    grad = None

    def forward(impl):
        with torch.no_grad(), ctx():
            return flow_warp(x_in, flow, impl=impl)

    def forward_backward(impl):
        nonlocal grad
        with ctx():
            out = flow_warp(x_leaf, f_leaf, impl=impl)
        if grad is None:
            grad = torch.randn_like(out)
        out.backward(grad)
        x_leaf.grad = f_leaf.grad = None

    names, impls = ("kernel", "grid_sample"), (kernel_impl, "pytorch")
    t_fwd = timer(*[lambda impl=impl: forward(impl) for impl in impls])
    t_fwd_bwd = timer(*[lambda impl=impl: forward_backward(impl) for impl in impls])
    results = {name: (tf, tfb) for name, tf, tfb in zip(names, t_fwd, t_fwd_bwd)}
    # grid_sample alone on a prebuilt grid (no grid construction), forward only, float32.
    xs = torch.arange(w, device=device, dtype=torch.float32).view(1, 1, w)
    ys = torch.arange(h, device=device, dtype=torch.float32).view(1, h, 1)
    grid = torch.stack(
        ((xs + flow[:, 0]) * (2.0 / (w - 1)) - 1, (ys + flow[:, 1]) * (2.0 / (h - 1)) - 1), dim=-1
    )
    x_gs = x_in.float()
    with torch.no_grad():
        (gs_only,) = timer(lambda: F.grid_sample(x_gs, grid, align_corners=True))
    # Accuracy of both against the float64 result.
    with torch.no_grad():
        truth = flow_warp(x_in.double(), flow.double(), impl="pytorch")
        errors = {
            name: (forward(impl).double() - truth).abs().max().item()
            for name, impl in zip(names, impls)
        }
    del truth

    in_bytes = x_in.element_size() * x_in.numel()  # x, and grad_x in x's dtype
    out_bytes = 4 * x_in.numel()  # out and grad_out are float32 in both modes (flow is float32)
    flow_bytes = 4 * flow.numel()  # flow, and grad_flow
    fwd_bytes = in_bytes + flow_bytes + out_bytes
    bwd_bytes = out_bytes + in_bytes + flow_bytes + in_bytes + flow_bytes  # g, x, flow -> gx, gflow
    return results, gs_only, errors, fwd_bytes, fwd_bytes + bwd_bytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default=None)
    parser.add_argument("--sizes", nargs="+", metavar="NxCxHxW", default=None)
    parser.add_argument("--iters", type=int, default=None, help="timed repetitions (median)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (CPU)")
    parser.add_argument(
        "--fresh-memory",
        action="store_true",
        help="CPU: leave glibc's allocator alone (outputs may be fresh, page-faulting memory)",
    )
    parser.add_argument("--json", help="also write the measurements here")
    args = parser.parse_args()

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("bench_flow_warp: --device cuda but no GPU is available")
        if not cuda_kernel_available():
            sys.exit("bench_flow_warp: vps_d2._C has no CUDA kernel (build with CUDA, see README)")
    elif not cpu_kernel_available():
        sys.exit("bench_flow_warp: vps_d2._C is not built (run `make setup`)")
    if args.threads:
        torch.set_num_threads(args.threads)
    default_sizes = GPU_SIZES if device.type == "cuda" else CPU_SIZES
    sizes = [parse_size(s) for s in (args.sizes or default_sizes)]
    iters = args.iters or (50 if device.type == "cuda" else 10)
    timer = Timer(device, args.warmup, iters)

    torch.manual_seed(0)
    reuse = device.type == "cpu" and not args.fresh_memory and keep_freed_memory()
    print(f"machine: {machine_line(device)}")
    if reuse:
        print("allocator: glibc keeps freed buffers (steady state; no page-fault cost per call)")
    print(
        f"flow: smooth, a few pixels; median of {iters} interleaved runs after {args.warmup} "
        "warm-up runs\n"
    )
    print(
        "| size (N, C, H, W) | precision | impl | forward ms | fwd GB/s | fwd+bwd ms | "
        "fwd+bwd GB/s | speed-up fwd / fwd+bwd |"
    )
    print("|---|---|---|---|---|---|---|---|")
    cases = []
    for size in sizes:
        for autocast in (False, True):
            results, gs_only, errors, fwd_bytes, total_bytes = run_case(
                size, device, autocast, timer
            )
            prec = "fp32" if not autocast else (
                "autocast fp16" if device.type == "cuda" else "autocast bf16"
            )
            base_f, base_fb = results["grid_sample"]
            for name, (t_f, t_fb) in results.items():
                speed = f"{base_f / t_f:.2f}x / {base_fb / t_fb:.2f}x" if name == "kernel" else ""
                print(
                    f"| {tuple(size)} | {prec} | {name} | {t_f * 1e3:.3f} | "
                    f"{fwd_bytes / t_f / 1e9:.1f} | {t_fb * 1e3:.3f} | "
                    f"{total_bytes / t_fb / 1e9:.1f} | {speed} |"
                )
            print(
                f"| {tuple(size)} | {prec} | grid_sample only (prebuilt grid, fp32) | "
                f"{gs_only * 1e3:.3f} | {fwd_bytes / gs_only / 1e9:.1f} | | | |"
            )
            print(
                f"|  |  | max abs error vs float64: kernel {errors['kernel']:.1e}, "
                f"grid_sample {errors['grid_sample']:.1e} | | | | | |"
            )
            cases.append(
                {
                    "size": list(size),
                    "precision": prec,
                    "forward_ms": {name: t[0] * 1e3 for name, t in results.items()},
                    "forward_backward_ms": {name: t[1] * 1e3 for name, t in results.items()},
                    "grid_sample_only_forward_ms": gs_only * 1e3,
                    "speedup_forward": base_f / results["kernel"][0],
                    "speedup_forward_backward": base_fb / results["kernel"][1],
                    "max_abs_error_vs_float64": errors,
                }
            )
    if args.json:
        from vps_d2.utils.file_io import atomic_write_json

        atomic_write_json(
            args.json, {"machine": machine_line(device), "iters": iters, "cases": cases}
        )


if __name__ == "__main__":
    main()
