"""DWA weighting (Liu et al. 2019) against hand computations on the shared weighting problem."""

import math

import pytest
import torch
from weighting_problem import Problem, make, theta_grad

from mtbench_plugins.weightings.dwa import DWAWeighting


def dwa_step(w, a: float, b: float) -> float:
    """One step with terms a and b, plus c = 1 when the weighting has a c."""
    values = {"a": a, "b": b, "c": 1.0}
    return w.combine({n: torch.tensor(float(values[n])) for n in w.base}).item()


def test_dwa_weights_by_hand():
    base = {"a": 2.0, "b": 1.0, "c": 1.0}
    w = make(DWAWeighting, base=base, unbounded={"c"}, temperature=2.0, window=1)
    assert dwa_step(w, 5, 10) == pytest.approx(2 * 5 + 10 + 1)  # first two steps: w = 1
    assert dwa_step(w, 4, 10) == pytest.approx(2 * 4 + 10 + 1)
    e_a, e_b = math.exp(0.8 / 2), math.exp(1.0 / 2)  # ratios 4/5 and 10/10
    wa, wb = 2 * e_a / (e_a + e_b), 2 * e_b / (e_a + e_b)
    assert dwa_step(w, 3, 5) == pytest.approx(2 * wa * 3 + wb * 5 + 1, rel=1e-6)
    assert w.current_weights() == pytest.approx({"a": 2 * wa, "b": wb, "c": 1.0}, rel=1e-6)
    r_a, r_b = 3 / 4, 5 / 10  # the next step's ratios
    e_a, e_b = math.exp(r_a / 2), math.exp(r_b / 2)
    assert dwa_step(w, 1, 1) == pytest.approx(2 * 2 * e_a / (e_a + e_b) + 2 * e_b / (e_a + e_b) + 1)


def test_dwa_gradients_are_weighted_and_go_only_to_inputs():
    w = make(DWAWeighting)
    p = Problem()
    p.run(w, theta_grad=[1.0, 1.0])  # step 1: w = 1, accumulated onto the old grad
    assert theta_grad(p) == pytest.approx([1 + 4 - 6, 1 + 8])
    assert p.phi.grad.item() == pytest.approx(2.0) and p.psi.grad is None


def test_dwa_state_round_trips_mid_run():
    w = make(DWAWeighting, window=1)
    for a, b in [(5, 10), (4, 9), (3, 9)]:
        dwa_step(w, a, b)
    other = make(DWAWeighting, window=1)
    other.load_state_dict(w.state_dict())
    assert other.steps == 3 and other.current_weights() == w.current_weights()
    assert dwa_step(other, 2, 8) == pytest.approx(dwa_step(w, 2, 8))


def test_dwa_ratios_are_of_window_means_not_single_batches():
    w = make(DWAWeighting, base={"a": 1.0, "b": 1.0}, temperature=1.0, window=2)
    for a, b in [(6, 1), (2, 3), (3, 1), (1, 1)]:  # window means: a 4 then 2, b 2 then 1
        assert dwa_step(w, a, b) == pytest.approx(a + b)  # w = 1 until two windows are full
    e_a, e_b = math.exp(2 / 4), math.exp(1 / 2)
    assert dwa_step(w, 1, 1) == pytest.approx(2 * e_a / (e_a + e_b) + 2 * e_b / (e_a + e_b))
    # single-batch ratios (1/3 for a, 1/1 for b) would weight b above a; the window means tie
    assert w.current_weights()["a"] == pytest.approx(w.current_weights()["b"])
