"""Uncertainty weighting (Kendall et al. 2018) against hand computations on the shared weighting
problem (tests/support/weighting_problem.py)."""

import math

import pytest
import torch
from weighting_problem import Problem, make, theta_grad

from mtbench.api import WeightingContext
from mtbench_plugins.weightings.uncertainty import UncertaintyWeighting

torch.set_num_threads(1)


# ---------------------------------------------------------------- uncertainty


def test_uncertainty_combine_and_gradients_by_hand():
    w = make(UncertaintyWeighting, unbounded={"b"}, init=0.5)
    p = Problem()
    e = math.exp(-0.5)
    assert w.combine(p.terms()).item() == pytest.approx(2 * (e * 5 + 0.25) + 10, rel=1e-6)
    p.run(w)
    assert theta_grad(p) == pytest.approx([2 * e * 2 - 6, 2 * e * 4], rel=1e-6)
    assert p.phi.grad.item() == pytest.approx(2.0)
    assert w.log_vars.grad.tolist() == pytest.approx([2 * (0.5 - e * 5)], rel=1e-6)
    assert p.psi.grad is None
    assert w.current_weights() == pytest.approx({"a": 2 * e, "b": 1.0})


def test_uncertainty_regression_form_by_hand():
    w = make(UncertaintyWeighting, init=1.0, form="regression", base={"a": 1.0, "b": 3.0})
    p = Problem()
    e = math.exp(-1.0)
    expected = 0.5 * (e * 5 + 1) + 3 * 0.5 * (e * 10 + 1)
    assert w.combine(p.terms()).item() == pytest.approx(expected, rel=1e-6)
    assert w.current_weights() == pytest.approx({"a": 0.5 * e, "b": 1.5 * e})


def test_uncertainty_learns_only_bounded_terms_unless_asked():
    assert make(UncertaintyWeighting, unbounded={"b"}).learned == ["a"]
    assert make(UncertaintyWeighting, unbounded={"b"}, learn_unbounded=True).learned == ["a", "b"]


def test_uncertainty_log_variance_is_projected_not_frozen():
    w = make(UncertaintyWeighting, max_log_var=2.0)
    with torch.no_grad():
        w.log_vars.fill_(-50.0)
    p = Problem()
    p.run(w)
    assert w.log_vars.tolist() == [-2.0, -2.0]
    # live gradient at the bound: 2 * (0.5 - e^2 * 5) and 1 * (0.5 - e^2 * 10), not 0
    expected = [2 * (0.5 - math.exp(2.0) * 5), 0.5 - math.exp(2.0) * 10]
    assert w.log_vars.grad.tolist() == pytest.approx(expected, rel=1e-6)


def test_uncertainty_form_follows_each_terms_kind():
    ctx = WeightingContext(regression=frozenset({"b"}))
    w = UncertaintyWeighting(UncertaintyWeighting.Config(), {"a": 1.0, "b": 1.0}, ctx=ctx)
    # s = 0: classification a -> exp(0) * 5 + 0; regression b -> 0.5 * exp(0) * 10 + 0
    assert w.combine(Problem().terms()).item() == pytest.approx(5 + 5, rel=1e-6)
    assert w.current_weights() == pytest.approx({"a": 1.0, "b": 0.5})


def test_uncertainty_never_learns_a_regularizer_penalty():
    ctx = WeightingContext(fixed=frozenset({"b"}))
    w = UncertaintyWeighting(UncertaintyWeighting.Config(init=1.0), {"a": 1.0, "b": 1.0}, ctx=ctx)
    assert w.learned == ["a"]
    assert w.current_weights()["b"] == 1.0


def test_uncertainty_state_round_trips():
    w = make(UncertaintyWeighting)
    with torch.no_grad():
        w.log_vars.copy_(torch.tensor([0.3, -0.2]))
    other = make(UncertaintyWeighting)
    other.load_state_dict(w.state_dict())
    assert other.current_weights() == w.current_weights()


def test_the_old_regression_form_field_says_what_replaced_it(capsys, tmp_path):
    from helpers import tiny_spec, write_spec

    from mtbench.cli import main

    s = tiny_spec(weighting={"type": "uncertainty", "regression_form": True})
    assert main(["validate", str(write_spec(tmp_path / "s.json", s))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "regression_form was replaced by form: set form to regression" in err[0]
    )
    assert err[0].startswith("weighting")
