"""``mtbench compare`` of two suite folders (or sets of seeds): per metric, the difference of
the means over seeds, its 95% Welch interval and the p-value of Welch's t-test.

Only done runs count, and only when both sides were evaluated under one protocol
(``mtbench.evaluate.final.PROTOCOL``); otherwise the table says why no test is given.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from mtbench import stats
from mtbench.errors import UserError
from mtbench.evaluate import final
from mtbench.results import headline_metrics, metric_columns, read_runs


def _done(folder: Path) -> pd.DataFrame:
    runs = read_runs([folder]).runs
    done = runs[runs["status"] == "done"]
    if done.empty:
        raise UserError(f"{folder}: no done runs to compare")
    return done


def _protocols(runs: pd.DataFrame) -> set[tuple]:
    cols = runs[list(final.PROTOCOL)].astype(object)
    return {tuple(None if pd.isna(v) else v for v in r) for r in cols.itertuples(index=False)}


def _num(v: float) -> str:
    return "–" if v is None or math.isnan(v) else f"{v:.4g}"


def _row(metric: str, a: pd.Series, b: pd.Series) -> list[str]:
    x = pd.to_numeric(a, errors="coerce").dropna().to_numpy()
    y = pd.to_numeric(b, errors="coerce").dropna().to_numpy()
    diff, lo, hi, p = stats.welch(x, y)
    ci = "fewer than 2 seeds on a side" if math.isnan(lo) else f"[{_num(lo)}, {_num(hi)}]"
    mean = lambda v: _num(float(v.mean())) if len(v) else "–"  # noqa: E731
    return [metric, f"{mean(x)} (n={len(x)})", f"{mean(y)} (n={len(y)})", _num(diff), ci, _num(p)]


def compare_suites(a: str | Path, b: str | Path) -> str:
    """Markdown: per headline metric, A's and B's means over seeds, B - A, interval, p."""
    ra, rb = _done(Path(a)), _done(Path(b))
    lines = [f"# {a} (A) vs {b} (B): means over seeds", ""]
    if len(_protocols(pd.concat([ra, rb]))) > 1:
        return "\n".join(
            [*lines, "A and B hold runs of different evaluation protocols; no test is given.", ""]
        )
    metrics = [m for m in headline_metrics(metric_columns(ra)) if m in rb.columns]
    rows = [_row(m, ra[m], rb[m]) for m in metrics]
    header = ["metric", "A", "B", "B - A", "95% interval", "p"]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", f"Interval and p: {stats.TEST_NAME} on the runs' final metrics.", ""]
    return "\n".join(lines)
