"""evals.parquet keeps which generator (ema/raw) and which checkpoint (live/last/best) apart,
during training and after ``mtbench eval``; a missing best.pt says why it is missing."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import tiny_spec, write_spec

from mtbench.cli import main
from mtbench.layout import RunDir


def _eval_section(tmp_path, **over) -> dict:
    section = {
        "metrics": ["fid"],
        "every": 3,
        "n_samples": 40,
        "raw": True,
        "cache_dir": str(tmp_path / "cache"),
        "domain": {"epochs": 1},
    }
    return {**section, **over}


@pytest.fixture
def run_dir(tmp_path) -> RunDir:
    rd = RunDir(tmp_path / "run")
    s = tiny_spec(out=str(rd.root), eval=_eval_section(tmp_path))
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    return rd


def test_generator_and_checkpoint_are_two_columns_in_training_and_after_eval(run_dir):
    live = pd.read_parquet(run_dir.evals)
    assert set(live["generator"]) == {"ema", "raw"}
    assert set(live["checkpoint"]) == {"live"}
    assert main(["eval", str(run_dir.root), "--checkpoint", "best", "--n", "30"]) == 0
    assert main(["eval", str(run_dir.root), "--n", "30"]) == 0
    evals = pd.read_parquet(run_dir.evals)
    later = evals.iloc[len(live) :]
    assert set(later["generator"]) == {"ema"}  # the sampler a checkpoint holds
    assert sorted(later["checkpoint"].unique()) == ["best", "last"]
    summary = json.loads(run_dir.summary.read_text())
    last_live = live[(live["step"] == 6) & (live["generator"] == "ema")]
    assert summary["metrics"]["fid"] == last_live.set_index("metric")["value"]["fid"]


def test_resume_of_a_finished_run_keeps_its_own_metrics_not_a_later_eval(run_dir, tmp_path):
    before = json.loads(run_dir.summary.read_text())["metrics"]
    assert main(["eval", str(run_dir.root), "--n", "30"]) == 0  # n_fake differs: other values
    spec = tiny_spec(out=str(run_dir.root), eval=_eval_section(tmp_path))
    assert main(["run", str(write_spec(tmp_path / "s.json", spec)), "--resume"]) == 0
    assert json.loads(run_dir.summary.read_text())["metrics"] == before


def test_missing_best_checkpoint_says_the_run_had_no_eval_metric(tmp_path, capsys):
    rd = RunDir(tmp_path / "run")
    s = tiny_spec(out=str(rd.root))  # no eval section: nothing picks a best checkpoint
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    capsys.readouterr()
    assert main(["eval", str(rd.root), "--checkpoint", "best", "--metrics", "fid"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no eval metric" in err and "--checkpoint last" in err
    assert "choose --checkpoint last or best" not in err
