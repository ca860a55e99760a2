"""Plots of a results folder (matplotlib, Agg, PNG): who wins, how metrics evolve, where time
goes, and how adaptive weightings move their loss-term weights.

Every plot reads the ``mtbench.results`` tables; only runs with status done are drawn.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mtbench.io import atomic_write_bytes  # noqa: E402
from mtbench.layout import LIVE, phase_columns  # noqa: E402
from mtbench.results import (  # noqa: E402
    Tables,
    aggregate,
    headline_metrics,
    higher_is_better,
    metric_columns,
)

DPI = 110


def _save(fig, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _grid(n: int, cols: int = 3, w: float = 4.6, h: float = 3.4):
    cols = max(1, min(cols, n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(w * cols, h * rows), squeeze=False, layout="constrained"
    )
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def _done(t: Tables) -> Tables:
    ids = set(t.runs.loc[t.runs["status"] == "done", "run_id"])
    return Tables(
        t.runs[t.runs["run_id"].isin(ids)],
        t.steps[t.steps["run_id"].isin(ids)] if "run_id" in t.steps else t.steps,
        t.evals[t.evals["run_id"].isin(ids)] if "run_id" in t.evals else t.evals,
    )


def _variant_of(t: Tables) -> dict[str, str]:
    return dict(zip(t.runs["run_id"], t.runs["variant"]))


def _main_generator(ev: pd.DataFrame) -> pd.DataFrame:
    """Rows of each run's training-time evaluations of its main generator: the EMA one when
    the run has it, else the raw one (not ``mtbench eval``'s later rows)."""
    if ev.empty or "generator" not in ev:
        return ev
    if "checkpoint" in ev:
        ev = ev[ev["checkpoint"].fillna(LIVE) == LIVE]
    has_ema = ev.groupby("run_id")["generator"].transform(lambda g: (g == "ema").any())
    wanted = has_ema.map({True: "ema", False: "raw"})
    return ev[ev["generator"] == wanted]


def plot_final(t: Tables, path: Path) -> Path | None:
    """Bars of each headline metric per variant (mean, std over seeds); best bar highlighted."""
    agg = aggregate(t)
    metrics = headline_metrics(metric_columns(t.runs))
    if agg.empty or not metrics:
        return None
    fig, axes = _grid(len(metrics), w=4.6, h=0.45 * len(agg) + 1.4)
    for ax, m in zip(axes, metrics):
        mean, std = agg[f"{m}_mean"], agg[f"{m}_std"].fillna(0)
        best = mean.max() if higher_is_better(m) else mean.min()
        colors = ["tab:green" if v == best else "tab:blue" for v in mean]
        y = range(len(agg))
        ax.barh(y, mean.fillna(0), xerr=std, color=colors, capsize=3)
        ax.set_yticks(list(y), agg["variant"].astype(str))
        ax.invert_yaxis()
        ax.set_xlabel(m)
        ax.set_title(f"{m} ({'higher' if higher_is_better(m) else 'lower'} is better)")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Final metrics per variant (mean ± std over seeds; best in green)")
    return _save(fig, path)


def plot_metrics(t: Tables, path: Path) -> Path | None:
    """Each headline metric against training step: mean line per variant, std band over seeds."""
    ev = _main_generator(t.evals)
    if ev.empty or "metric" not in ev:
        return None
    metrics = headline_metrics(list(dict.fromkeys(ev["metric"])))
    metrics = [m for m in metric_columns(t.runs) if m in metrics] or metrics
    if not metrics:
        return None
    ev = ev.assign(variant=ev["run_id"].map(_variant_of(t)))
    fig, axes = _grid(len(metrics))
    for ax, m in zip(axes, metrics):
        for variant, g in ev[ev["metric"] == m].groupby("variant", sort=False):
            s = g.groupby("step")["value"].agg(["mean", "std"]).fillna({"std": 0})
            ax.plot(s.index, s["mean"], marker="o", label=str(variant))
            ax.fill_between(s.index, s["mean"] - s["std"], s["mean"] + s["std"], alpha=0.2)
        ax.set_title(f"{m} ({'higher' if higher_is_better(m) else 'lower'} is better)")
        ax.set_xlabel("training step")
        ax.set_ylabel(m)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.suptitle("Metrics during training (mean over seeds, band: ± std)")
    return _save(fig, path)


def plot_timing(t: Tables, path: Path) -> Path | None:
    """Stacked bars: median milliseconds per step in each phase, per variant."""
    agg = aggregate(t)
    cols = [c for c in phase_columns(with_total=False) if c in agg.columns]
    if agg.empty or not cols:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(agg) + 1.5))
    left = pd.Series(0.0, index=agg.index)
    y = list(range(len(agg)))
    for c in cols:
        ms = agg[c].fillna(0) * 1000
        ax.barh(y, ms, left=left, label=c[2:])
        left += ms
    ax.set_yticks(y, agg["variant"].astype(str))
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds per training step (median after warm-up, mean over seeds)")
    ax.set_title("Where a training step's time goes")
    ax.legend(ncol=4, fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.18))
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_weights(t: Tables, path: Path) -> Path | None:
    """Loss-term weights over steps for every variant whose weights move (adaptive weighting)."""
    st = t.steps
    wcols = [c for c in st.columns if str(c).startswith("weight/")]
    if st.empty or not wcols:
        return None
    st = st.assign(variant=st["run_id"].map(_variant_of(t)))
    moving = [
        v
        for v, g in st.groupby("variant", sort=False)
        if (g[wcols].max() - g[wcols].min()).fillna(0).abs().max() > 1e-9
    ]
    if not moving:
        return None
    fig, axes = _grid(len(moving), cols=2, w=6.5, h=3.8)
    weighting = dict(zip(t.runs["variant"], t.runs["weighting"]))
    for ax, v in zip(axes, moving):
        g = st[st["variant"] == v]
        mean = g.groupby("step")[wcols].mean().dropna(axis=1, how="all")
        for c in mean.columns:
            style = "-" if c.startswith("weight/d/") else "--"
            ax.plot(mean.index, mean[c], style, label=c[len("weight/") :])
        ax.set_title(f"{v}: {weighting.get(v)} weighting")
        ax.set_xlabel("training step")
        ax.set_ylabel("weight (mean over seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small", title="player/term (D solid, G dashed)")
    fig.suptitle("Loss-term weights of adaptive weightings")
    return _save(fig, path)


def write_plots(t: Tables, out: str | Path) -> list[Path]:
    """Every plot that the tables have data for, as PNGs in ``out``."""
    out = Path(out)
    t = _done(t)
    made = [
        plot_final(t, out / "final_metrics.png"),
        plot_metrics(t, out / "metrics_vs_step.png"),
        plot_timing(t, out / "step_time.png"),
        plot_weights(t, out / "loss_weights.png"),
    ]
    return [p for p in made if p is not None]
