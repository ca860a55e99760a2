"""What a run leaves for reports: summary.json keeps training's own final metrics (a resume of
a finished run adds no later ``mtbench eval`` rows), and spec.json records what ran beside it."""

from __future__ import annotations

import json

import pytest
from helpers import tiny_spec, write_spec

from mtbench.cli import main
from mtbench.contention import JOBS_ENV


@pytest.fixture
def evaluated(tmp_path, monkeypatch):
    """A finished 4-step run evaluated at its end (fid, accuracy), made as a bench job of 3."""
    monkeypatch.setenv(JOBS_ENV, "3")
    out = tmp_path / "run"
    s = tiny_spec(out=str(out))
    s["train"]["steps"] = 4
    s["eval"] = {
        "metrics": ["fid", "accuracy"],
        "n_samples": 90,
        "kid_subset_size": 10,
        "cache_dir": str(tmp_path / "cache"),
        "domain": {"epochs": 1},
    }
    spec = write_spec(tmp_path / "s.json", s)
    assert main(["run", str(spec)]) == 0
    return spec, out


def _summary(out) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_post_hoc_eval_reaches_report_and_compare(evaluated, capsys):
    spec, out = evaluated
    trained = _summary(out)["metrics"]
    assert {"fid", "accuracy"} <= set(trained) and "kid" not in trained
    assert main(["eval", str(out), "--metrics", "kid"]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["kid_mean"] > 0 and row["fid_mean"] == pytest.approx(trained["fid"])
    assert main(["compare", str(out), str(out)]) == 0
    text = capsys.readouterr().out
    assert "| kid |" in text and "A: step 4 (ema+last (kid, evaluator_accuracy))" in text


@pytest.mark.slow
def test_resuming_a_finished_run_copies_no_post_hoc_metric_into_summary(evaluated):
    spec, out = evaluated
    trained = _summary(out)["metrics"]
    assert main(["eval", str(out), "--metrics", "kid"]) == 0
    assert main(["run", str(spec), "--resume"]) == 0  # a finished run, resumed
    assert _summary(out)["metrics"] == trained  # no kid copied in from mtbench eval


@pytest.mark.slow
def test_spec_meta_records_each_sessions_contention(evaluated):
    spec, out = evaluated
    (first,) = json.loads((out / "spec.json").read_text())["meta"]["contention"]
    assert first["jobs"] == 3 and first["torch_threads"] == 1 and first["cpu_count"] >= 1
    assert len(first["load_start"]) == len(first["load_end"]) == 3
    assert main(["run", str(spec), "--resume"]) == 0
    sessions = json.loads((out / "spec.json").read_text())["meta"]["contention"]
    assert len(sessions) == 2 and sessions[0] == first
