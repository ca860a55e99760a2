"""Metric curves plot a run's own evaluations, not the rows a later ``mtbench eval`` added."""

from __future__ import annotations

import pandas as pd

from mtbench.plots import _main_generator


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
