"""Run folders -> three pandas tables (runs, steps, evals), and the per-variant aggregation.

The run folders are the source of truth; tables are derived from them, so they can always
be regenerated. ``runs`` has one row per run folder (its spec, status, throughput, what ran
beside it, and its final metrics with their protocol as columns; the metrics come from
``evals.parquet`` by the rule of ``mtbench.evaluate.final``, never from ``summary.json``),
``steps`` and ``evals`` are the runs' own tables stacked. ``aggregate`` turns them into a
leaderboard: per protocol and variant, mean and std over seeds of every final metric,
images per second and wall time, and the per-phase step time.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from mtbench import contention, stats
from mtbench.errors import UserError
from mtbench.evaluate import catalogue, final
from mtbench.io import atomic_write_bytes, write_parquet
from mtbench.layout import TABLES, RunDir, phase_columns

RUN_COLUMNS = [
    "run_id",
    "suite",
    "variant",
    "seed",
    "status",
    "spec_hash",
    "dataset",
    "generator",
    "heads",
    "loss",
    "weighting",
    "device",
    "torch",
    "threads",
    "steps",
    "steps_planned",
    "wall_s",
    "train_s",
    "imgs_per_s",
    "jobs",
    "load_max",
    "contended",
    "attempts",
    "error",
    "path",
    "metrics_step",
    "metrics_from",
    *final.PROTOCOL,
]


class Tables(NamedTuple):
    runs: pd.DataFrame
    steps: pd.DataFrame
    evals: pd.DataFrame


# Columns besides metrics a leaderboard can be ranked by, and whether higher is better.
SORT_EXTRA: dict[str, bool] = {"imgs_per_s": True, "wall_s": False}


def higher_is_better(metric: str) -> bool:
    if metric in SORT_EXTRA:
        return SORT_EXTRA[metric]
    return catalogue.higher_is_better(metric)


# ----------------------------------------------------------------------------- reading


def is_run_dir(path: Path) -> bool:
    return RunDir(path).is_run()


def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """Each path is a run folder, or a folder of run folders (a suite's results)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.is_dir():
            raise UserError(f"{p}: no such folder")
        if is_run_dir(p):
            found.append(p)
        else:
            found += sorted(c for c in p.iterdir() if c.is_dir() and is_run_dir(c))
    return found


def _run_ids(dirs: list[Path]) -> list[str]:
    """Folder names; qualified by the parent folder where two names collide."""
    names = [d.name for d in dirs]
    return [f"{d.parent.name}/{d.name}" if names.count(d.name) > 1 else d.name for d in dirs]


def read_runs(paths: list[str | Path]) -> Tables:
    """The runs, steps and evals tables of every run folder under ``paths``.

    A run's metrics are its final rows of ``evals.parquet`` (``mtbench.evaluate.final``);
    the evals table's ``final`` column marks the rows the runs table took them from.
    """
    dirs = find_run_dirs(paths)
    rows, steps, evals = [], [], []
    for root, run_id in zip(dirs, _run_ids(dirs)):
        rd = RunDir(root)
        ev = _read_table(rd.evals, run_id)
        row, used = run_row(root, run_id, ev)
        rows.append(row)
        evals.append(ev.assign(final=ev.index.isin(used.index)))
        steps.append(_read_table(rd.steps, run_id))
    runs = pd.DataFrame(rows, columns=None) if rows else pd.DataFrame(columns=RUN_COLUMNS)
    runs = runs[RUN_COLUMNS + order_metrics([c for c in runs.columns if c not in RUN_COLUMNS])]
    return Tables(runs, _concat(steps, ["run_id", "step"]), _concat(evals, ["run_id", "step"]))


def _read_table(path: Path, run_id: str) -> pd.DataFrame:
    """A run's table with ``run_id`` first (the folder's name); empty when absent."""
    if not path.is_file():
        return pd.DataFrame()
    df = pd.read_parquet(path)
    if "step" not in df.columns:  # a run stopped before its first logged step: no rows
        return pd.DataFrame()
    return df.assign(run_id=run_id)[["run_id", *df.columns.drop("run_id", "ignore")]]


def _concat(frames: list[pd.DataFrame], first: list[str]) -> pd.DataFrame:
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=first)
    return pd.concat(frames, ignore_index=True, sort=False)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_row(
    root: Path, run_id: str, evals: pd.DataFrame | None = None
) -> tuple[dict, pd.DataFrame]:
    """One runs-table row from a run folder's spec, summary, bench record and evals, and
    the evals rows its metrics were taken from."""
    rd = RunDir(root)
    if evals is None:
        evals = _read_table(rd.evals, run_id)
    spec = _read_json(rd.spec) or _read_json(rd.file(RunDir.RUN_SPEC))
    summary = _read_json(rd.summary)
    bench = _read_json(rd.file(RunDir.BENCH))
    error_file = rd.file(RunDir.ERROR)
    status = summary.get("status") or ("failed" if error_file.is_file() else "incomplete")
    error = summary.get("error")
    if error is None and status == "failed":
        error = error_file.read_text(errors="replace").strip()
    meta = spec.get("meta") or {}
    train = spec.get("train") or {}
    heads = (spec.get("discriminator") or {}).get("heads") or []
    row = {
        "run_id": run_id,
        "suite": bench.get("suite"),
        "variant": spec.get("name") or bench.get("variant"),
        "seed": spec.get("seed", bench.get("seed")),
        "status": status,
        "spec_hash": meta.get("spec_hash"),
        "dataset": _type(spec.get("dataset")),
        "generator": _type(spec.get("generator")),
        "heads": "+".join(h.get("type", "?") for h in heads),
        "loss": _type(spec.get("loss")),
        "weighting": _type(spec.get("weighting")),
        "device": summary.get("device") or meta.get("device"),
        "torch": meta.get("torch"),
        "threads": meta.get("torch_threads"),
        "steps": summary.get("steps", _last_step(root)),
        "steps_planned": train.get("steps"),
        "wall_s": summary.get("wall_s"),
        "train_s": summary.get("train_s"),
        "imgs_per_s": summary.get("imgs_per_s"),
        **_contention(meta.get("contention")),
        "attempts": len(bench.get("attempts", [])),
        "error": error,
        "path": str(root),
    }
    step = row["steps"]
    n_samples = (spec.get("eval") or {}).get("n_samples")
    used = final.final_rows(evals, step, n_samples)
    row |= {"metrics_step": step if len(used) else None, "metrics_from": final.used_from(used)}
    row |= final.protocol(used, spec.get("dataset"))
    return row | {m: float(v) for m, v in zip(used["metric"], used["value"])}, used


def _contention(records: list[dict] | None) -> dict:
    """Most parallel jobs, highest 1-minute load, and whether the timings were contended."""
    records = records or []
    loads = [r[k][0] for r in records for k in ("load_start", "load_end") if r.get(k)]
    return {
        "jobs": max((r.get("jobs") or 1 for r in records), default=None),
        "load_max": max(loads, default=None),
        "contended": contention.contended(records),
    }


def _type(section: dict | None) -> str | None:
    return section.get("type") if isinstance(section, dict) else None


def _last_step(root: Path) -> int:
    path = RunDir(root).steps
    if not path.is_file():
        return 0
    df = pd.read_parquet(path)
    return int(df["step"].max()) if "step" in df.columns and len(df) else 0


def order_metrics(names: list[str]) -> list[str]:
    """Headline metrics in catalogue order, then their family members, then the rest."""
    return catalogue.order(names)


def metric_columns(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs.columns if c not in RUN_COLUMNS]


def sort_keys(runs: pd.DataFrame) -> list[str]:
    """What ``report --sort`` accepts for these runs: their metrics, then speed and wall time."""
    return [*metric_columns(runs), *SORT_EXTRA]


def check_sort(runs: pd.DataFrame, key: str | None) -> None:
    """Refuse a ``--sort`` key these runs cannot be ranked by, naming the valid ones."""
    valid = sort_keys(runs)
    if key is not None and key not in valid:
        raise UserError(f"--sort: no column {key!r} in these runs; choose from {', '.join(valid)}")


def headline_metrics(metrics: list[str]) -> list[str]:
    """What a leaderboard shows: not the per-class intra-FIDs nor the evaluator's own score."""
    return [m for m in metrics if catalogue.is_headline(m)]


# ----------------------------------------------------------------------------- writing


def write_tables(t: Tables, out: str | Path) -> list[Path]:
    """runs/steps/evals as parquet plus CSV copies in ``out`` (atomic writes)."""
    out = Path(out)
    written = []
    for name in TABLES:
        df = getattr(t, name)
        write_parquet(out / f"{name}.parquet", df)
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        atomic_write_bytes(out / f"{name}.csv", buf.getvalue().encode())
        written += [out / f"{name}.parquet", out / f"{name}.csv"]
    return written


# ----------------------------------------------------------------------------- aggregating


def phase_times(steps: pd.DataFrame) -> pd.DataFrame:
    """Per run: median seconds per phase (and in total) over logged steps after warm-up.

    Warm-up is the first logged row of each run; a run with one row keeps it.
    """
    cols = [c for c in phase_columns() if c in steps.columns]
    if steps.empty or not cols:
        return pd.DataFrame(columns=cols)
    out = {}
    for run_id, g in steps.groupby("run_id", sort=False):
        g = g.sort_values("step")
        warm = g.iloc[1:] if len(g) > 1 else g
        out[run_id] = warm[cols].median()
    return pd.DataFrame.from_dict(out, orient="index")[cols]


def aggregate(t: Tables, sort_by: str | None = None) -> pd.DataFrame:
    """One row per protocol and variant: done runs' mean and std (ddof 1) over seeds of every
    final metric, images per second and wall time, and the mean over runs of per-phase median
    step times; ``contended`` when any run's timings were measured under contention.

    Runs of one variant evaluated under different protocols (``final.PROTOCOL``) are never
    averaged together. Protocols keep their order of first appearance; within each, rows are
    sorted by ``sort_by`` (default: fid if present, else the first metric), best first.
    """
    runs = _unfinished_join_their_variant(t.runs)
    metrics = metric_columns(runs)
    timing = phase_times(t.steps)
    keys = [*final.PROTOCOL, "variant"]
    rows, seeds = [], {}
    for key, g in runs.groupby(keys, sort=False, dropna=False):
        done = g[g["status"] == "done"]
        row = dict(zip(keys, (None if pd.isna(k) else k for k in key)))
        row |= {
            "dataset": _first(g["dataset"]),
            "heads": _first(g["heads"]),
            "weighting": _first(g["weighting"]),
            "runs": len(done),
            "not_done": len(g) - len(done),
            "seeds": ",".join(str(s) for s in sorted(done["seed"].dropna().astype(int))),
            "contended": bool(done["contended"].eq(True).any()),
            "unrecorded": int(done["contended"].isna().sum()),
        }
        for col in [*metrics, "imgs_per_s", "wall_s"]:
            vals = pd.to_numeric(done[col], errors="coerce").dropna()
            row[f"{col}_mean"] = vals.mean() if len(vals) else np.nan
            row[f"{col}_std"] = vals.std(ddof=1) if len(vals) > 1 else np.nan
            if col in metrics:  # 95% interval over seeds (mtbench.stats)
                row[f"{col}_lo"], row[f"{col}_hi"] = stats.interval(vals.to_numpy())
                seeds[len(rows), col] = vals.to_numpy()
        tim = timing.loc[timing.index.intersection(done["run_id"])]
        for col in timing.columns:
            row[col] = tim[col].mean() if len(tim) else np.nan
        rows.append(row)
    agg = pd.DataFrame(rows)
    if not agg.empty:
        agg.insert(0, "protocol", _protocol_ids(agg))
        _mark_best(agg, metrics, seeds)
        agg = agg[["protocol", "variant", *agg.columns.drop(["protocol", "variant"])]]
    return _sort(agg, sort_by or _default_sort(metrics))


def _mark_best(agg: pd.DataFrame, metrics: list[str], seeds: dict) -> None:
    """``<metric>_best``: per protocol, the best mean and every variant Welch's t-test cannot
    tell from it at 0.05 (``mtbench.stats.best_and_ties``)."""
    for m in metrics:
        agg[f"{m}_best"] = False
        for _, g in agg.groupby("protocol", sort=False):
            groups = [seeds.get((i, m), np.array([])) for i in g.index]
            agg.loc[g.index, f"{m}_best"] = stats.best_and_ties(groups, higher_is_better(m))


def _unfinished_join_their_variant(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs not done (never finally evaluated) count towards their variant's done runs'
    protocol, so a failed seed shows as ``not_done`` beside its variant, not on its own."""
    cols = list(final.PROTOCOL)
    done = runs[runs["status"] == "done"].drop_duplicates("variant").set_index("variant")[cols]
    rest = (runs["status"] != "done") & runs["variant"].isin(done.index)
    runs = runs.astype({c: object for c in cols})
    if rest.any():
        runs.loc[rest, cols] = done.loc[runs.loc[rest, "variant"], cols].to_numpy()
    return runs


def _protocol_ids(agg: pd.DataFrame) -> list[int]:
    """1, 2, ... per distinct protocol, in order of first appearance."""
    cols = agg[list(final.PROTOCOL)].astype(object)
    keys = [tuple(None if pd.isna(v) else v for v in r) for r in cols.itertuples(index=False)]
    ids = {k: i + 1 for i, k in enumerate(dict.fromkeys(keys))}
    return [ids[k] for k in keys]


def _first(s: pd.Series):
    s = s.dropna()
    return s.iloc[0] if len(s) else None


def _default_sort(metrics: list[str]) -> str | None:
    heads = headline_metrics(metrics)
    fds = [m for m in heads if catalogue.canonical(m) == "fid"]  # fid, fd_dinov2, ...
    return fds[0] if fds else (heads[0] if heads else None)


def _sort(agg: pd.DataFrame, metric: str | None) -> pd.DataFrame:
    if agg.empty or metric is None or f"{metric}_mean" not in agg:
        return (
            agg.sort_values("protocol", kind="stable").reset_index(drop=True) if len(agg) else agg
        )
    asc = not higher_is_better(metric)
    by_metric = agg.sort_values(f"{metric}_mean", ascending=asc, na_position="last", kind="stable")
    return by_metric.sort_values("protocol", kind="stable").reset_index(drop=True)
