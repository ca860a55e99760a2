"""The runs table takes each run's metrics from evals.parquet, not summary.json, and says
which rows it used."""

from __future__ import annotations

import json

import pandas as pd
from fake_runs import fake_run

from mtbench import results


def _append_post_hoc(run, metric: str, value: float, n_samples: int = 2000) -> None:
    """What ``mtbench eval`` leaves: a row of ``last.pt`` at the final step, appended (the
    run's spec drew 2000 samples per evaluation)."""
    spec = json.loads((run / "spec.json").read_text())
    (run / "spec.json").write_text(json.dumps(spec | {"eval": {"n_samples": 2000}}))
    ev = pd.read_parquet(run / "evals.parquet")
    new = ev.iloc[[-1]].assign(metric=metric, value=value, generator="last", n_samples=n_samples)
    pd.concat([ev, new], ignore_index=True).to_parquet(run / "evals.parquet", index=False)


def test_a_post_hoc_eval_reaches_the_runs_table_and_is_marked_final(tmp_path):
    run = fake_run(tmp_path / "a-s0", "a", 0, {"fid": 10.0})
    _append_post_hoc(run, "kid", 0.25)
    t = results.read_runs([tmp_path])
    r = t.runs.iloc[0]
    assert r["fid"] == 10.0 and r["kid"] == 0.25
    assert r["metrics_step"] == 40 and r["metrics_from"] == "ema+last (kid)"
    used = t.evals[t.evals["final"]]
    assert sorted(used["metric"]) == ["fid", "kid"] and (used["step"] == 40).all()
    assert not t.evals.loc[t.evals["step"] == 20, "final"].any()


def test_summary_metrics_are_not_what_reports_read(tmp_path):
    run = fake_run(tmp_path / "a-s0", "a", 0, {"fid": 10.0})
    summary = json.loads((run / "summary.json").read_text())
    summary["metrics"] = {"fid": 99.0, "stale": 1.0}
    (run / "summary.json").write_text(json.dumps(summary))
    r = results.read_runs([tmp_path]).runs.iloc[0]
    assert r["fid"] == 10.0 and "stale" not in r


def test_a_post_hoc_eval_under_another_sample_count_is_not_ranked(tmp_path):
    run = fake_run(tmp_path / "a-s0", "a", 0, {"fid": 10.0})
    _append_post_hoc(run, "kid", 0.25, n_samples=60)
    r = results.read_runs([tmp_path]).runs.iloc[0]
    assert "kid" not in r and r["metrics_from"] == "ema"


def test_runs_of_different_protocols_are_never_averaged(tmp_path):
    for seed, h in ((0, "aaaa"), (1, "bbbb")):
        fake_run(
            tmp_path / f"a-s{seed}", "a", seed, {"fid": 10.0 + seed}, protocol={"extractor_hash": h}
        )
    agg = results.aggregate(results.read_runs([tmp_path]))
    assert agg["protocol"].tolist() == [1, 2]
    assert agg["fid_mean"].tolist() == [10.0, 11.0] and agg["runs"].tolist() == [1, 1]


def test_contention_columns_come_from_spec_meta(tmp_path):
    quiet = {"jobs": 1, "torch_threads": 1, "cpu_count": 4, "load_start": [0.5, 0, 0]}
    busy = quiet | {"load_end": [6.0, 0, 0]}
    fake_run(tmp_path / "a-s0", "a", 0, {"fid": 1.0}, contention=[quiet])
    fake_run(tmp_path / "a-s1", "a", 1, {"fid": 1.0}, contention=[quiet, busy | {"jobs": 2}])
    fake_run(tmp_path / "a-s2", "a", 2, {"fid": 1.0})
    runs = results.read_runs([tmp_path]).runs.set_index("run_id")
    assert runs["contended"].tolist() == [False, True, None]
    assert runs.loc["a-s1", "jobs"] == 2 and runs.loc["a-s1", "load_max"] == 6.0
    agg = results.aggregate(results.read_runs([tmp_path]))
    assert agg["contended"].tolist() == [True] and agg["unrecorded"].tolist() == [1]
