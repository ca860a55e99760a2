"""A run's final metrics and their protocol, chosen from its ``evals.parquet`` rows.

The one rule that reports, ``compare``, plots and ``summary.json`` share (README, "Which
numbers a report shows"):

- a run's final metrics are its rows at the run's final step (its last trained step);
- of its main generator: the EMA one when the run has one, else the raw one; a checkpoint
  evaluated afterwards by ``mtbench eval`` (``checkpoint`` = ``last`` or ``best``) holds
  the same weights when its step is the final step, so its rows count too;
- under the run's own protocol: only rows of an evaluation that drew the spec's
  ``eval.n_samples`` images (``mtbench eval --n`` with another count is kept in
  ``evals.parquet`` but never ranked);
- of several such rows of one metric, the latest (last written) wins.

``summary.json`` keeps what training itself evaluated (no ``mtbench eval`` rows), so
resuming a finished run never copies later evaluations into it. Torch-free.
"""

from __future__ import annotations

import json

import pandas as pd

from mtbench.evaluate import catalogue
from mtbench.layout import LIVE

TRAINING = ("ema", "raw")  # generator tags of evaluations made during training
# Protocol columns of a run: two runs' numbers are comparable exactly when these agree.
PROTOCOL = (
    "data",
    "feature_extractor",
    "extractor_hash",
    "n_real",
    "n_fake",
    "real_split",
    "extractor_resize",
    "torch_fidelity",
    "evaluator_hash",
)
EVALUATOR = "evaluator_accuracy"  # the domain evaluator's own row


def is_live(row: dict) -> bool:
    """Whether one evals row came from the run's own training, not a later ``mtbench eval``.

    Rows written before the ``checkpoint`` column existed named the checkpoint in ``generator``.
    """
    checkpoint = row.get("checkpoint")
    if checkpoint is None or checkpoint != checkpoint:  # absent or NaN: an older table
        return row.get("generator", "ema") in TRAINING
    return checkpoint == LIVE


def is_training(ev: pd.DataFrame) -> pd.Series:
    """``is_live`` over a table: rows written by training's evaluations."""
    live = pd.Series(True, index=ev.index)
    if "generator" in ev:
        live &= ev["generator"].fillna("ema").isin(TRAINING)
    if "checkpoint" in ev:
        live &= ev["checkpoint"].fillna(LIVE) == LIVE
    return live


def main_generator(ev: pd.DataFrame) -> pd.DataFrame:
    """Rows of each run's main generator: without the raw one's where the run has an EMA one."""
    if ev.empty or "generator" not in ev:
        return ev
    keys = ev["run_id"] if "run_id" in ev else pd.Series(0, index=ev.index)
    has_ema = (ev["generator"] == "ema").groupby(keys).transform("any")
    return ev[~(has_ema & (ev["generator"] == "raw"))]


def final_rows(
    ev: pd.DataFrame, step: int | None, n_samples: int | None, training_only: bool = False
) -> pd.DataFrame:
    """One run's final rows: one per metric, by the rule above, in ``ev``'s order."""
    if ev.empty or step is None or "step" not in ev:
        return ev.iloc[0:0].reindex(columns=list(dict.fromkeys([*ev.columns, "metric", "value"])))
    keep = main_generator(ev[ev["step"] == step])
    keep = keep[_own_protocol(keep, n_samples)]
    if training_only:
        keep = keep[is_training(keep)]
    return keep.drop_duplicates("metric", keep="last")


def _own_protocol(ev: pd.DataFrame, n_samples: int | None) -> pd.Series:
    """Rows drawn with the spec's n_samples; rows older than that column count if training's."""
    if "n_samples" not in ev or n_samples is None:
        return is_training(ev)
    recorded = ev["n_samples"].notna()
    return (recorded & (ev["n_samples"] == n_samples)) | (~recorded & is_training(ev))


def final_metrics(ev: pd.DataFrame, step: int | None, n_samples: int | None) -> dict:
    """``metric -> value`` of one run's final rows."""
    rows = final_rows(ev, step, n_samples)
    return {m: float(v) for m, v in zip(rows["metric"], rows["value"])}


def protocol(rows: pd.DataFrame, dataset: dict | None) -> dict:
    """The protocol of a run's final rows: data set, how its real-side metrics were measured
    (extractor, hash, sample counts, split) and which domain evaluator scored accuracy."""
    out = dict.fromkeys(PROTOCOL)
    out["data"] = json.dumps(dataset, sort_keys=True) if dataset else None
    if rows.empty:
        return out
    names = rows["metric"].astype(str)
    real = rows[names.map(catalogue.compares_with_real)]
    first = (real if len(real) else rows[names != EVALUATOR]).head(1)
    for col in PROTOCOL[1:-1]:
        if col in first and len(first):
            out[col] = _plain(first[col].iloc[0])
    if {"feature_extractor", "extractor_hash"} <= set(rows.columns):
        domain = rows[rows["feature_extractor"] == "domain"]
        out["evaluator_hash"] = _plain(domain["extractor_hash"].iloc[0]) if len(domain) else None
    return out


def _plain(v):
    if v is None or (isinstance(v, float) and v != v):
        return None
    return v.item() if hasattr(v, "item") else v


def used_from(rows: pd.DataFrame) -> str | None:
    """Which evaluations a run's final rows came from: ``ema``, ``ema+last`` (kid), ..."""
    if rows.empty:
        return None
    live = is_training(rows)
    gen = rows["generator"].fillna("ema") if "generator" in rows else pd.Series("ema", rows.index)
    checkpoint = rows["checkpoint"].fillna(gen) if "checkpoint" in rows else gen
    tags = gen.where(live, checkpoint)  # training's rows by generator, later ones by checkpoint
    later = rows[~live]
    text = "+".join(dict.fromkeys(tags))
    return (
        f"{text} ({', '.join(later['metric'])})" if len(later) and len(later) < len(rows) else text
    )
