"""What every adaptive weighting keeps: clear errors for unknown or missing terms, gradients
only into the player's inputs, the weighted sum without shared parameters, logged weights."""

import pytest
import torch
from weighting_problem import Problem, make, theta_grad

from mtbench_plugins.weightings.dwa import DWAWeighting
from mtbench_plugins.weightings.gradnorm import GradNormWeighting
from mtbench_plugins.weightings.pcgrad import PCGradWeighting
from mtbench_plugins.weightings.uncertainty import UncertaintyWeighting

ALL = [UncertaintyWeighting, DWAWeighting, GradNormWeighting, PCGradWeighting]


@pytest.mark.parametrize("cls", ALL)
def test_unknown_or_missing_terms_are_clear_errors(cls):
    w = make(cls)
    with pytest.raises(KeyError, match="'c'"):
        w.combine({"a": torch.tensor(1.0), "c": torch.tensor(1.0)})
    with pytest.raises(ValueError):
        w.combine({})


@pytest.mark.parametrize("cls", ALL)
def test_gradients_go_only_to_inputs(cls):
    w = make(cls)
    p = Problem()
    p.run(w)
    assert p.theta.grad is not None and p.phi.grad is not None and p.psi.grad is None


@pytest.mark.parametrize("cls", [GradNormWeighting, PCGradWeighting])
def test_no_shared_parameters_is_the_weighted_sum(cls):
    w = make(cls)
    p = Problem()
    w.backward(p.terms(), [p.theta, p.phi], [], scale=lambda x: x)
    assert theta_grad(p) == pytest.approx([2 * 2 - 6, 2 * 4])


@pytest.mark.parametrize("name", ["uncertainty", "dwa", "gradnorm", "pcgrad"])
def test_runs_log_weights_and_gradient_cosines(tmp_path, name):
    import pandas as pd
    from helpers import tiny_spec, write_spec

    from mtbench.cli import main

    s = tiny_spec(out=str(tmp_path / "run"), weighting={"type": name})
    s["train"]["steps"] = 4
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    for player, term in [("d", "aux_classifier/ce_real"), ("g", "aux_classifier/ce")]:
        assert steps[f"weight/{player}/{term}"].notna().all()
    cos = [c for c in steps.columns if c.startswith("diag/d/cos/")]
    assert bool(cos) == (name in ("gradnorm", "pcgrad"))
