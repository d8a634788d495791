"""Pictures of a VPQ report (SPEC §6): VPQ against the window size k, and per-class VPQ bars."""

import os
from typing import Dict, List

__all__ = ["plot_report"]


def plot_report(report: Dict, out_dir: str) -> List[str]:
    """Write ``vpq_vs_k.png`` (All / Th / St against k) and ``vpq_per_class.png`` into ``out_dir``.

    Returns the paths written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..utils.file_io import atomic_path

    os.makedirs(out_dir, exist_ok=True)
    ks = [int(k) for k in report["per_k"]]
    paths = []

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for key, label in (("VPQ", "All"), ("VPQ_th", "Things"), ("VPQ_st", "Stuff")):
        ax.plot(ks, [report["per_k"][str(k)][key] for k in ks], marker="o", label=label)
    ax.set_xlabel("window size k (frames)")
    ax.set_ylabel("VPQ^k (%)")
    ax.set_xticks(ks)
    ax.set_title(f"VPQ {report['VPQ']:.1f}  (Th {report['VPQ_th']:.1f}, St {report['VPQ_st']:.1f})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    paths.append(_save(fig, os.path.join(out_dir, "vpq_vs_k.png"), atomic_path))
    plt.close(fig)

    rows = [c for c in report["per_class"] if c["VPQ"] is not None]
    fig, ax = plt.subplots(figsize=(max(5, 0.4 * len(rows) + 1), 3.5))
    colors = ["tab:orange" if c["isthing"] else "tab:blue" for c in rows]
    ax.bar(range(len(rows)), [c["VPQ"] for c in rows], color=colors)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([c["name"] for c in rows], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("VPQ (%)")
    ax.set_title("per-class VPQ (orange: things, blue: stuff)")
    fig.tight_layout()
    paths.append(_save(fig, os.path.join(out_dir, "vpq_per_class.png"), atomic_path))
    plt.close(fig)
    return paths


def _save(fig, path, atomic_path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    return path
