"""A leaderboard's notes: the words a suite gives a variant (``variants[].note``), followed by
the numbers this table measured for it, so no figure in a note is typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mtbench.layout import SuiteDir
from mtbench.results import higher_is_better


def variant_notes(dirs: list[str]) -> dict[str, dict]:
    """``{variant: {"text", "metrics"}}`` from the suite files the bench sessions saved."""
    notes: dict[str, dict] = {}
    for d in dirs:
        try:
            suite = json.loads(SuiteDir(Path(d)).file(SuiteDir.SUITE).read_text())["spec"]
        except (OSError, ValueError, KeyError):
            continue
        for v in suite.get("variants", []):
            if v.get("note"):
                notes[v["name"]] = v["note"]
    return notes


def notes_markdown(agg: pd.DataFrame, notes: dict[str, dict]) -> list[str]:
    """A "Notes" section for the variants of ``agg`` that have a note ([] when none do)."""
    lines = [_line(agg, name, note) for name, note in notes.items() if name in set(agg["variant"])]
    return ["## Notes", "", *lines, ""] if lines else []


def _line(agg: pd.DataFrame, name: str, note: dict) -> str:
    measured = [_measured(agg, name, m) for m in note.get("metrics", [])]
    measured = [m for m in measured if m]
    tail = f" Measured here: {'; '.join(measured)}." if measured else ""
    return f"- **{name}**: {note['text']}{tail}"


def _measured(agg: pd.DataFrame, name: str, metric: str) -> str:
    """``accuracy 0.16 ± 0.005 over 3 seeds (best: reacgan, 0.97)``, or "" when unmeasured."""
    col = f"{metric}_mean"
    if col not in agg or agg[col].isna().all():
        return ""
    r = agg[agg["variant"] == name].iloc[0]
    if pd.isna(r[col]):
        return ""
    best = agg.loc[agg[col].idxmax() if higher_is_better(metric) else agg[col].idxmin()]
    seeds = len(str(r["seeds"]).split(","))
    spread = "" if pd.isna(r[f"{metric}_std"]) else f" ± {r[f'{metric}_std']:.2g}"
    return (
        f"{metric} {r[col]:.4g}{spread} over {seeds} seed{'s' * (seeds > 1)} "
        f"(best: {best['variant']}, {best[col]:.4g})"
    )
