"""The figures of RESULTS.md (matplotlib Figures, written by the aggregation)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experiments.report.settings import BY_NAME, SETS, TEST_SAMPLES_EACH_EPOCH
from experiments.report.stats import FAKE_STATS, mean_std, total_steps


def colour(name: str) -> str:
    """A setting's colour, the same in every figure (the settings' order in the colour cycle)."""
    return f"C{list(BY_NAME).index(name) % 10}"


def plot_curves(runs: dict, names: Sequence[str]):
    """Validation curves of seed 0 per setting (a matplotlib Figure)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.2), dpi=110)
    panels = [
        ("val/mpjpe", "lab validation MPJPE (mm)"),
        ("test/wild_test/mpjpe", f"wild_test MPJPE (mm, first {TEST_SAMPLES_EACH_EPOCH})"),
        ("test/wild_test/log_scale", "wild_test mean log optimal scale"),
    ]
    axes = fig.subplots(1, len(panels))
    for name in names:
        group = [r for r in runs.get(name, []) if r["seed"] == 0] or runs.get(name, [])[:1]
        if not group:
            continue
        curve = group[0]["curve"]
        for ax, (key, _) in zip(axes, panels):
            pts = [(r["step"], r[key]) for r in curve if key in r]
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, label=BY_NAME[name].full_label, lw=1.2, color=colour(name))
    for ax, (_, title) in zip(axes, panels):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("global step (validation runs in the last stage only)")
        ax.grid(alpha=0.3)
    axes[0].set_ylim(top=min(axes[0].get_ylim()[1], 250))
    axes[1].set_ylim(top=min(axes[1].get_ylim()[1], 400))
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8)
    fig.suptitle("Validation curves, seed 0 (each point: one validation at an epoch end)")
    fig.tight_layout()
    return fig


def plot_decomposition(runs: dict, names: Sequence[str]):
    """Stacked horizontal bars per method and set: PA-MPJPE (pose shape), N-MPJPE - PA (mostly
    the pose's rotation about its root), MPJPE - N-MPJPE (global scale); means over seeds."""
    from matplotlib.figure import Figure

    names = [n for n in names if runs.get(n)]
    fig = Figure(figsize=(14, 1.2 + 0.45 * len(names)), dpi=110)
    axes = fig.subplots(1, len(SETS), sharey=True)
    y = np.arange(len(names))[::-1]
    for ax, s in zip(axes, SETS):
        parts = []
        for name in names:
            res = [r["results"][s] for r in runs[name]]
            m, n, p = (mean_std([x[k] for x in res])[0] for k in ("mpjpe", "n_mpjpe", "pa_mpjpe"))
            parts.append((p, n - p, m - n))
        pose, rot, scale = (np.array(v) for v in zip(*parts)) if parts else ([], [], [])
        ax.barh(y, pose, label="PA-MPJPE (pose shape)")
        ax.barh(y, rot, left=pose, label="N-MPJPE - PA (rotation, mostly)")
        ax.barh(y, scale, left=pose + rot, label="MPJPE - N-MPJPE (scale)")
        ax.set_title(s)
        ax.set_xlabel("mm (mean over seeds)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [BY_NAME[n].full_label for n in names], fontsize=8)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=3, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    return fig


FAKES_PLOTTED = ("poseaug", "joint_paper", "joint")  # seed 0 of each in the figure


def plot_fakes(runs: dict, names: Sequence[str] = FAKES_PLOTTED):
    """The generator's fakes over training, seed 0 of each setting: one panel per statistic of
    `FAKE_STATS`, x = global step; a dotted line (same colour) where the end-to-end stage
    starts. None when no run logs them."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 3.8), dpi=110)
    axes = fig.subplots(1, len(FAKE_STATS))
    plotted = False
    for name in names:
        group = [r for r in runs.get(name, []) if r["seed"] == 0]
        if not group:
            continue
        run = group[0]
        stages = [s["name"] for s in run["stages"]]
        e2e = (
            total_steps(run["stages"][: stages.index("end_to_end")])
            if "end_to_end" in stages
            else None
        )
        for ax, (key, _) in zip(axes, FAKE_STATS):
            pts = [(r["step"], r[key]) for r in run["train_rows"] if key in r]
            if not pts:
                continue
            ax.plot(*zip(*pts), color=colour(name), lw=1.0, label=BY_NAME[name].full_label)
            if e2e is not None:
                ax.axvline(e2e, color=colour(name), ls=":", lw=0.8)
            plotted = True
    if not plotted:
        return None
    for ax, (_, title) in zip(axes, FAKE_STATS):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("global step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("The generator's fakes over training, seed 0 (dotted: end-to-end stage starts)")
    fig.tight_layout()
    return fig
