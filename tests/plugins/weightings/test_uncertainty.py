"""Uncertainty weighting (Kendall et al. 2018) against hand computations on the shared weighting
problem (tests/support/weighting_problem.py)."""

import math

import pytest
import torch
from weighting_problem import Problem, make, theta_grad

from mtbench_plugins.weightings.uncertainty import UncertaintyWeighting

torch.set_num_threads(1)


# ---------------------------------------------------------------- uncertainty


def test_uncertainty_combine_and_gradients_by_hand():
    w = make(UncertaintyWeighting, unbounded={"b"}, init=0.5)
    p = Problem()
    e = math.exp(-0.5)
    assert w.combine(p.terms()).item() == pytest.approx(2 * (e * 5 + 0.5) + 10, rel=1e-6)
    p.run(w)
    assert theta_grad(p) == pytest.approx([2 * e * 2 - 6, 2 * e * 4], rel=1e-6)
    assert p.phi.grad.item() == pytest.approx(2.0)
    assert w.log_vars.grad.tolist() == pytest.approx([2 * (1 - e * 5)], rel=1e-6)
    assert p.psi.grad is None
    assert w.current_weights() == pytest.approx({"a": 2 * e, "b": 1.0})


def test_uncertainty_regression_form_by_hand():
    w = make(UncertaintyWeighting, init=1.0, regression_form=True, base={"a": 1.0, "b": 3.0})
    p = Problem()
    e = math.exp(-1.0)
    expected = 0.5 * (e * 5 + 1) + 3 * 0.5 * (e * 10 + 1)
    assert w.combine(p.terms()).item() == pytest.approx(expected, rel=1e-6)
    assert w.current_weights() == pytest.approx({"a": 0.5 * e, "b": 1.5 * e})


def test_uncertainty_learns_only_bounded_terms_unless_asked():
    assert make(UncertaintyWeighting, unbounded={"b"}).learned == ["a"]
    assert make(UncertaintyWeighting, unbounded={"b"}, learn_unbounded=True).learned == ["a", "b"]


def test_uncertainty_log_variance_is_clamped():
    w = make(UncertaintyWeighting, max_log_var=2.0)
    with torch.no_grad():
        w.log_vars.fill_(-50.0)
    assert w.current_weights()["a"] == pytest.approx(2 * math.exp(2.0))


def test_uncertainty_state_round_trips():
    w = make(UncertaintyWeighting)
    with torch.no_grad():
        w.log_vars.copy_(torch.tensor([0.3, -0.2]))
    other = make(UncertaintyWeighting)
    other.load_state_dict(w.state_dict())
    assert other.current_weights() == w.current_weights()
