"""Metric curves plot a run's own evaluations, not the rows a later ``mtbench eval`` added.

Plots of runs under several protocols name each bar's protocol and pick a best per protocol.
"""

from __future__ import annotations

import pandas as pd
from fake_runs import fake_run

from mtbench import results
from mtbench.plots import _bar_names, _main_generator, write_plots


def test_curves_leave_out_later_evaluations_of_checkpoints():
    ev = pd.DataFrame(
        {
            "run_id": ["a", "a", "a", "b", "b"],
            "generator": ["ema", "raw", "ema", "raw", "raw"],
            "checkpoint": ["live", "live", "last", "live", "best"],
            "value": [1.0, 2.0, 3.0, 4.0, 5.0],
        }
    )
    assert _main_generator(ev)["value"].tolist() == [1.0, 4.0]


def test_bars_of_two_protocols_say_which(tmp_path):
    fake_run(tmp_path / "res" / "a-s0", "a", 0, {"fid": 3.0})
    other = {"extractor_hash": "ffff"}
    fake_run(tmp_path / "res" / "b-s0", "b", 0, {"fid": 9.0}, protocol=other)
    t = results.read_runs([tmp_path / "res"])
    assert _bar_names(results.aggregate(t)) == ["a [protocol 1]", "b [protocol 2]"]
    names = {p.name for p in write_plots(t, tmp_path / "plots")}
    assert "final_metrics.png" in names
