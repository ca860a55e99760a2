"""Per-output evaluation as a user runs it: a third-party data set with its own derive gets
consistency rows through ``mtbench run``, and bad eval.outputs fail before training."""

from __future__ import annotations

import json
import math

import mirrored_bars
import pandas as pd
import pytest
from fake_plugins import registry_of, use_registry
from helpers import tiny_spec, write_spec

from mtbench.cli import main


def bars_spec(tmp_path, gen_outputs=("image", "mirrored", "shadow"), **eval_over) -> dict:
    s = tiny_spec(
        out=str(tmp_path / "run"),
        dataset={"type": "mirrored_bars"},
        generator={"type": "multi_output", "z_dim": 8, "width": 4, "embed_dim": 4,
                   "outputs": list(gen_outputs)},
    )  # fmt: skip
    s["train"]["steps"] = 2
    s["eval"] = {
        "metrics": ["fid", "accuracy", "consistency"],
        "n_samples": 64,
        "batch_size": 32,
        "cache_dir": str(tmp_path / "cache"),
        "domain": {"epochs": 1, "width": 4, "feat_dim": 16},
    } | eval_over
    return s


@pytest.fixture
def bars(monkeypatch):
    use_registry(monkeypatch, registry_of(mirrored_bars))


def test_a_third_party_dataset_gets_per_output_and_consistency_rows(tmp_path, bars, capsys):
    assert main(["run", str(write_spec(tmp_path / "s.json", bars_spec(tmp_path)))]) == 0
    ev = pd.read_parquet(tmp_path / "run" / "evals.parquet").set_index("metric")
    for k in ("mirrored", "shadow"):
        assert ev.loc[f"fid/{k}", "output"] == k and ev.loc[f"fid/{k}", "target"] == k
        assert ev.loc[f"fid/{k}", "value"] > 0
    assert 0 < ev.loc["consistency/mirrored", "value"] <= 1  # an untrained generator
    assert ev.loc["real_consistency/mirrored", "value"] == 0
    assert math.isnan(ev.loc["consistency/shadow", "value"])
    assert "no derivation of 'shadow'" in ev.loc["consistency/shadow", "reason"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "consistency/mirrored" in summary["metrics"]
    capsys.readouterr()
    assert main(["report", str(tmp_path / "run")]) == 0
    board = capsys.readouterr().out
    assert "| consistency/mirrored ↓ |" in board
    assert "- `consistency/shadow`: the data set declares no derivation of 'shadow'" in board


@pytest.mark.parametrize(
    ("outputs", "eval_over", "message"),
    [
        (None, {"outputs": ["depth"]}, "eval.outputs: 'depth' has no real target"),
        (("image", "mirrored"), {"outputs": ["shadow"]}, "the generator has no output 'shadow'"),
        (None, {"outputs": ["mirrored"], "best_metric": "fid/shadow"}, "names output 'shadow'"),
    ],
)
def test_bad_outputs_fail_before_training_in_one_line(
    tmp_path, bars, capsys, outputs, eval_over, message
):
    s = bars_spec(tmp_path, outputs or ("image", "mirrored", "shadow"), **eval_over)
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "run" / "steps.parquet").exists()


def test_a_derive_of_the_wrong_shape_fails_before_training(tmp_path, bars, capsys):
    s = bars_spec(tmp_path)
    s["dataset"]["wrong_shape"] = True
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "derive(images, 'mirrored') returned" in err
    assert not (tmp_path / "run" / "steps.parquet").exists()
