"""Evaluation in a run (evals.parquet, best.pt, summary) and ``mtbench eval`` afterwards."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import tiny_spec, write_spec

from mtbench.cli import main
from mtbench.io import load_torch


@pytest.fixture
def evaluated_run(tmp_path):
    out = tmp_path / "run"
    s = tiny_spec(out=str(out))
    s["train"]["steps"] = 4
    s["eval"] = {
        "metrics": ["fid", "accuracy"],
        "every": 2,
        "n_samples": 90,
        "kid_subset_size": 10,
        "cache_dir": str(tmp_path / "cache"),
        "domain": {"epochs": 1},
    }
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    return out


def test_run_evaluates_every_n_steps_with_protocol_columns(evaluated_run):
    evals = pd.read_parquet(evaluated_run / "evals.parquet")
    assert sorted(evals["step"].unique()) == [2, 4]
    fid = evals[evals["metric"] == "fid"]
    assert len(fid) == 2 and (fid["value"] > 0).all()
    for col in [
        "run_id",
        "feature_extractor",
        "extractor_hash",
        "n_real",
        "n_fake",
        "real_split",
        "seed",
        "wall_s",
    ]:
        assert col in evals.columns
    assert (fid["n_fake"] == 90).all() and (fid["real_split"] == "eval").all()
    summary = json.loads((evaluated_run / "summary.json").read_text())
    assert summary["metrics"]["fid"] == pytest.approx(fid[fid["step"] == 4]["value"].item())
    best = load_torch(evaluated_run / "checkpoints" / "best.pt")["step"]
    assert best == fid.loc[fid["value"].idxmin(), "step"]


def test_eval_command_appends_rows_for_a_checkpoint(evaluated_run, capsys):
    before = len(pd.read_parquet(evaluated_run / "evals.parquet"))
    assert main(["eval", str(evaluated_run), "--metrics", "fid", "kid", "--n", "60"]) == 0
    out = capsys.readouterr().out
    assert "domain evaluator held-out accuracy" in out and "fid = " in out and "kid = " in out
    evals = pd.read_parquet(evaluated_run / "evals.parquet")
    new = evals.iloc[before:]
    assert (
        set(new["metric"]) >= {"fid", "kid"} and (new["n_fake"][new["metric"] == "fid"] == 60).all()
    )
    assert (new["generator"] == "ema").all() and (new["checkpoint"] == "last").all()


def test_eval_command_errors(tmp_path, evaluated_run, capsys):
    assert main(["eval", str(tmp_path)]) == 2
    assert "not a run folder" in capsys.readouterr().err
    assert main(["eval", str(evaluated_run), "--metrics", "fidd"]) == 2
    assert capsys.readouterr().err.startswith("eval.metrics[0]: unknown metric")


@pytest.mark.parametrize(
    "eval_section, expected",
    [
        ({"metrics": ["kid"], "n_samples": 100, "kid_subset_size": 500}, "eval.kid_subset_size: "),
        (
            {"metrics": ["fid"], "feature_extractor": "inception-v3-compat"},
            "eval.weights: ",
        ),
        (
            {
                "metrics": ["fid"],
                "weights": "/no/such.pth",
                "feature_extractor": "inception-v3-compat",
            },
            "eval.weights: ",
        ),
    ],
)
def test_bad_eval_sections_fail_before_training(
    tmp_path, capsys, monkeypatch, eval_section, expected
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-hub"))  # no cached Inception weights
    s = tiny_spec(out=str(tmp_path / "run"), eval=eval_section)
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 2
    assert capsys.readouterr().err.startswith(expected)
    assert not (tmp_path / "run").exists()


def test_eval_with_dc_on_too_few_samples_is_one_line(evaluated_run, capsys):
    before = len(pd.read_parquet(evaluated_run / "evals.parquet"))
    assert main(["eval", str(evaluated_run), "--metrics", "dc", "--n", "5"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "dc (density/coverage, k=5) needs more than 5 samples" in line
    assert len(pd.read_parquet(evaluated_run / "evals.parquet")) == before
    assert main(["eval", str(evaluated_run), "--metrics", "dc", "--n", "60"]) == 0
    assert "coverage = " in capsys.readouterr().out
