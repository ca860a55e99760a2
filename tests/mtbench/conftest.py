"""Fixtures of the core's tests."""

from __future__ import annotations

import pytest
from helpers import tiny_spec, write_spec

from mtbench.cli import main
from mtbench.layout import RunDir


@pytest.fixture(scope="session")
def ema_run(tmp_path_factory) -> RunDir:
    """A finished tiny run with an EMA generator and checkpoints (read only: copy to change)."""
    tmp = tmp_path_factory.mktemp("ema_run")
    spec = tiny_spec()
    spec["train"] = {**spec["train"], "ema_decay": 0.5}
    spec["log"] = {**spec["log"], "tensorboard": False}
    out = tmp / "run"
    assert main(["run", str(write_spec(tmp / "s.json", spec)), "--out", str(out)]) == 0
    return RunDir(out)
