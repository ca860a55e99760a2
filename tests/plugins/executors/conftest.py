"""A 2-variant x 2-seed suite of tiny deterministic runs, shared by the executor tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import tiny_spec


@pytest.fixture
def suite_2x2(tmp_path) -> Path:
    return _write_suite(tmp_path)


@pytest.fixture(scope="session")
def local_outcome(tmp_path_factory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The 2x2 suite through the local pool, once per session: what every executor must match."""
    from mtbench.cli import main

    folder = tmp_path_factory.mktemp("local_suite")
    out = folder / "out"
    assert main(["bench", str(_write_suite(folder)), "--out", str(out), "--jobs", "2"]) == 0
    return suite_outcome(out)


def _write_suite(tmp_path: Path) -> Path:
    base = tiny_spec()
    base["train"]["steps"] = 4
    suite = {
        "name": "ex",
        "base": base,
        "variants": [{"name": "a"}, {"name": "b", "set": {"train.batch_size": 4}}],
        "seeds": [0, 1],
    }
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite))
    return path


@pytest.fixture
def outcome():
    return suite_outcome


def suite_outcome(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What must not depend on the executor: run ids and statuses, and every logged loss."""
    runs = pd.read_parquet(out / "runs.parquet")[["run_id", "status"]]
    steps = pd.read_parquet(out / "steps.parquet")
    losses = [c for c in steps.columns if c.startswith("loss/")]
    assert losses, steps.columns
    cols = ["run_id", "step", *losses]
    return (
        runs.sort_values("run_id").reset_index(drop=True),
        steps[cols].sort_values(["run_id", "step"]).reset_index(drop=True),
    )
