"""Results tables: run folders -> runs/steps/evals, parquet/CSV, per-variant aggregation.

The runs table takes each run's metrics from evals.parquet, not summary.json, and says
which rows it used.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from fake_runs import FAKE, STEP_TIMES, fake_run, fake_suite

from mtbench import results
from mtbench.errors import UserError


@pytest.fixture
def suite(tmp_path):
    return fake_suite(tmp_path / "res")


def test_runs_table_has_one_row_per_folder_with_spec_status_and_final_metrics(suite):
    runs, steps, evals = results.read_runs([suite])
    assert sorted(runs["run_id"]) == sorted([f"{v}-s{s}" for v, s in FAKE] + ["proj-s2", "unc-s1"])
    assert list(runs.columns[: len(results.RUN_COLUMNS)]) == results.RUN_COLUMNS
    by = runs.set_index("run_id")
    for (variant, seed), metrics in FAKE.items():
        row = by.loc[f"{variant}-s{seed}"]
        assert (row["variant"], row["seed"], row["status"]) == (variant, seed, "done")
        assert row["spec_hash"] == f"hash-{variant}" and row["dataset"] == "shapes"
        assert row["heads"] == "adversarial+aux_classifier" and row["steps"] == 40
        assert row["imgs_per_s"] == 1000.0 + 10 * seed and row["wall_s"] == 100.0 + seed
        for m, v in metrics.items():
            assert row[m] == v
    assert by.loc["unc-s0", "weighting"] == "uncertainty"
    assert by.loc["proj-s2", "status"] == "failed"
    assert "RuntimeError: boom" in by.loc["proj-s2", "error"]
    assert by.loc["unc-s1", "status"] == "diverged"
    assert np.isnan(by.loc["proj-s2", "fid"])
    # headline metrics first, per-class intra-FID last
    assert results.metric_columns(runs) == ["fid", "precision", "accuracy", "intra_fid/red"]

    assert len(steps) == 4 * (len(FAKE) + 1)  # the diverged run logged too; the failed did not
    assert not steps.duplicated(["run_id", "step"]).any()
    assert set(evals["run_id"]) == {f"{v}-s{s}" for v, s in FAKE}
    assert len(evals) == 2 * sum(len(m) for m in FAKE.values())


def test_tables_round_trip_through_parquet_and_csv(suite, tmp_path):
    t = results.read_runs([suite])
    written = results.write_tables(t, tmp_path / "out")
    assert sorted(p.name for p in written) == sorted(
        f"{n}.{ext}" for n in ("runs", "steps", "evals") for ext in ("parquet", "csv")
    )
    for name, df in t._asdict().items():
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / f"{name}.parquet"), df)
        csv = pd.read_csv(tmp_path / "out" / f"{name}.csv")
        assert list(csv.columns) == list(df.columns) and len(csv) == len(df)


def test_a_run_folder_itself_and_colliding_names_across_folders(tmp_path):
    a = fake_run(tmp_path / "x" / "ac-s0", "ac", 0, {"fid": 1.0})
    fake_run(tmp_path / "y" / "ac-s0", "ac", 0, {"fid": 2.0})
    runs, steps, _ = results.read_runs([a])
    assert runs["run_id"].tolist() == ["ac-s0"]
    runs, steps, _ = results.read_runs([tmp_path / "x", tmp_path / "y"])
    assert runs["run_id"].tolist() == ["x/ac-s0", "y/ac-s0"]
    assert set(steps["run_id"]) == {"x/ac-s0", "y/ac-s0"}
    with pytest.raises(UserError, match="no such folder"):
        results.read_runs([tmp_path / "nope"])


def test_phase_times_are_medians_after_the_first_logged_row(suite):
    t = results.read_runs([suite])
    times = results.phase_times(t.steps)
    for variant, seed in FAKE:
        expect = float(np.median(STEP_TIMES[seed][1:]))  # first row is warm-up
        assert times.loc[f"{variant}-s{seed}", "t_d_fwd"] == pytest.approx(expect)
        assert times.loc[f"{variant}-s{seed}", "t_total"] == pytest.approx(8 * expect)


def test_aggregate_is_mean_and_std_over_done_seeds_sorted_by_fid(suite):
    t = results.read_runs([suite])
    agg = results.aggregate(t)
    assert agg["variant"].tolist() == ["proj", "ac", "unc"]  # fid ascending
    row = agg.set_index("variant")
    for variant in ("ac", "proj", "unc"):
        seeds = sorted(s for v, s in FAKE if v == variant)
        r = row.loc[variant]
        assert r["runs"] == len(seeds)
        assert r["seeds"] == ",".join(map(str, seeds))
        for m in ("fid", "precision", "accuracy", "intra_fid/red"):
            vals = np.array([FAKE[(variant, s)][m] for s in seeds])
            assert r[f"{m}_mean"] == pytest.approx(vals.mean())
            if len(vals) > 1:
                assert r[f"{m}_std"] == pytest.approx(vals.std(ddof=1))
            else:
                assert np.isnan(r[f"{m}_std"])
        ips = np.array([1000.0 + 10 * s for s in seeds])
        assert r["imgs_per_s_mean"] == pytest.approx(ips.mean())
        medians = [np.median(STEP_TIMES[s][1:]) for s in seeds]
        assert r["t_g_bwd"] == pytest.approx(np.mean(medians))
    assert row.loc["proj", "not_done"] == 1 and row.loc["unc", "not_done"] == 1
    by_acc = results.aggregate(t, sort_by="accuracy")
    assert by_acc["variant"].tolist() == ["ac", "proj", "unc"]  # higher is better


def test_direction_of_metrics_comes_from_the_catalogue():
    from mtbench.evaluate import catalogue, is_better

    for name in ["fid", "kid", "isc", "precision", "accuracy/shape", "mae/position", "intra_fid/3"]:
        assert results.higher_is_better(name) == catalogue.higher_is_better(name)
        assert is_better(name, 2.0, 1.0) == catalogue.higher_is_better(name)
    assert results.higher_is_better("isc") and not results.higher_is_better("mae/position")


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
