"""Choosing an executor on the command line: an unknown one, an option it does not know, a
value of the wrong type or a ``--set`` that is not an executor option: one line, exit 2,
nothing started."""

from __future__ import annotations

import json

import pytest
from helpers import tiny_spec

from mtbench.cli import main


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "suite.json"
    path.write_text(
        json.dumps({"name": "x", "base": tiny_spec(), "variants": [{"name": "a"}], "seeds": [0]})
    )
    return path


@pytest.mark.parametrize(
    "args, line",
    [
        (["--executor", "slurn"], "--executor: unknown executor 'slurn'; did you mean 'slurm'?"),
        (
            ["--executor", "slurm", "--set", "executor.partiton=gpu"],
            "executor.partiton: Extra inputs are not permitted (executor slurm; "
            "mtbench list executor)",
        ),
        (
            ["--executor", "slurm", "--set", "executor.gpus_per_run=two"],
            "executor.gpus_per_run: Input should be a valid integer",
        ),
        (
            ["--set", "train.steps=3"],
            "--set train.steps=3: mtbench bench takes executor options only",
        ),
        (["--detach"], "--detach: the local executor's runs live in this command"),
    ],
)
def test_executor_mistakes_are_one_line_and_start_nothing(tmp_path, suite, capsys, args, line):
    out = tmp_path / "out"
    assert main(["bench", str(suite), "--out", str(out), *args]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith(line), err
    assert not out.exists()


def test_every_executor_is_listed(capsys):
    assert main(["list", "executor"]) == 0
    names = {line.split()[1] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert {"local", "slurm", "ray"} <= names
