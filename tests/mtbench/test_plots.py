"""Plots of runs under several protocols name each bar's protocol and pick a best per protocol."""

from __future__ import annotations

from fake_runs import fake_run

from mtbench import results
from mtbench.plots import _bar_names, write_plots


def test_bars_of_two_protocols_say_which(tmp_path):
    fake_run(tmp_path / "res" / "a-s0", "a", 0, {"fid": 3.0})
    other = {"extractor_hash": "ffff"}
    fake_run(tmp_path / "res" / "b-s0", "b", 0, {"fid": 9.0}, protocol=other)
    t = results.read_runs([tmp_path / "res"])
    assert _bar_names(results.aggregate(t)) == ["a [protocol 1]", "b [protocol 2]"]
    names = {p.name for p in write_plots(t, tmp_path / "plots")}
    assert "final_metrics.png" in names
