"""Regularizers in real runs: every one trains, penalties alone train an ensemble, and spec
mistakes are one clear line."""

from __future__ import annotations

import pandas as pd
import pytest
from helpers import tiny_spec, write_spec

from mtbench.cli import main


def test_runs_with_every_regularizer(tmp_path):
    s = tiny_spec(out=str(tmp_path / "run"))
    s["regularizers"] = [
        {"type": "diffaugment"},
        {"type": "r1", "gamma": 1.0},
        {"type": "r2", "gamma": 1.0, "every": 2},
        {"type": "gradient_penalty"},
    ]
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    for name in ("r1", "r2", "gradient_penalty"):
        assert (steps[f"loss/d/{name}/penalty"] >= 0).all()
    assert (steps["loss/d/r1/penalty"] > 0).all()


@pytest.mark.parametrize("layout", ["separate", "shared_trunk"])
def test_penalties_train_an_ensemble_alone(tmp_path, layout):
    s = tiny_spec(out=str(tmp_path / "run"))
    head = {"type": "ensemble", "k": 2, "layout": layout}
    if layout == "separate":
        head["trunk"] = {"type": "dcgan", "width": 8}
    s["discriminator"]["heads"] = [head]
    s["regularizers"] = [{"type": "r1", "gamma": 1.0}, {"type": "gradient_penalty"}]
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    assert (steps["loss/d/r1/penalty"] > 0).all()
    assert (steps["loss/d/gradient_penalty/penalty"] >= 0).all()


@pytest.mark.parametrize(
    "where, value, expected",
    [
        ("loss", {"type": "r1"}, "loss.type: 'r1' is a regularizer; list it under regularizers"),
        ("regularizers", [{"type": "hinge"}], "regularizers[0].type: 'hinge' is an adversarial"),
    ],
)
def test_regularizer_and_family_are_not_interchangeable(tmp_path, capsys, where, value, expected):
    s = tiny_spec()
    s[where] = value
    assert main(["validate", str(write_spec(tmp_path / "s.json", s))]) == 2
    assert capsys.readouterr().err.startswith(expected)


def test_penalty_without_a_scoring_head_is_an_error(tmp_path, capsys):
    s = tiny_spec(out=str(tmp_path / "run"))
    s["discriminator"]["heads"] = [{"type": "aux_classifier"}]
    s["regularizers"] = [{"type": "r1"}]
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 2
    assert "regularizers: penalties need a head with a real/fake score" in capsys.readouterr().err


def test_regularizers_are_their_own_kind(capsys):
    assert main(["list", "regularizer"]) == 0
    listed = {line.split()[1] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert {"r1", "r2", "gradient_penalty", "diffaugment"} <= listed
    assert main(["list", "loss"]) == 0
    assert "r1" not in {line.split()[1] for line in capsys.readouterr().out.splitlines()}


@pytest.mark.parametrize("weighting", ["uncertainty", "dwa", "gradnorm"])
def test_adaptive_weightings_keep_penalties_at_their_configured_strength(tmp_path, weighting):
    config = {"type": weighting, **({"window": 1} if weighting == "dwa" else {})}
    s = tiny_spec(out=str(tmp_path / "run"), weighting=config)
    s["train"]["steps"] = 4
    s["regularizers"] = [{"type": "r1", "gamma": 3.0}]
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    assert (steps["weight/d/r1/penalty"] == 1.0).all()  # gamma = 3 stays 3
    assert (steps["weight/d/adversarial/adv"] != 1.0).any()  # the weighting did adapt
