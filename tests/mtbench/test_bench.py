"""A bench tells each run how many ran beside it, and publishes its folder the way
``mtbench report --out`` does (one publish)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import tiny_spec

from mtbench.cli import main


@pytest.mark.slow
def test_bench_records_jobs_and_publishes_like_report_out(tmp_path):
    base = tiny_spec()
    base["train"]["steps"] = 4
    suite = {"name": "t", "base": base, "variants": [{"name": "a"}, {"name": "b"}], "seeds": [0]}
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    out = tmp_path / "out"
    assert main(["bench", str(tmp_path / "suite.json"), "--out", str(out), "--jobs", "2"]) == 0
    for run in ("a-s0", "b-s0"):
        (record,) = json.loads((out / run / "spec.json").read_text())["meta"]["contention"]
        assert record["jobs"] == 2
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs["contended"].tolist() == [True, True] and (runs["jobs"] == 2).all()
    board = (out / "leaderboard.md").read_text()
    assert "† img/s, wall time and step times measured under contention" in board

    pub = tmp_path / "pub"
    assert main(["report", str(out), "--out", str(pub)]) == 0
    assert (pub / "leaderboard.md").read_text() == board
    assert {p.name for p in (out / "samples").iterdir()} == {"a.png", "b.png"}
    assert {p.name for p in (pub / "samples").iterdir()} == {"a.png", "b.png"}
    for folder in (out, pub):
        readme = (folder / "README.md").read_text()
        assert "Every file in this folder was written by mtbench." in readme
        assert "Runs: 2 (2 done)" in readme
