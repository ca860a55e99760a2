"""A 2-variant x 2-seed suite of tiny deterministic runs, shared by the executor tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers import tiny_spec


@pytest.fixture
def suite_2x2(tmp_path) -> Path:
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
