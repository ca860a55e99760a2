"""Adaptive weightings (uncertainty, DWA, GradNorm, PCGrad) against hand computations.

The fixture: a shared parameter theta = (1, 2), a non-shared player parameter phi = 1 and a
parameter psi = 1 outside the player's inputs. Terms:
    a = |theta|^2                   = 5,   d/dtheta = (2, 4)
    b = (theta_0 - 4)^2 + phi^2 psi = 10,  d/dtheta = (-6, 0), d/dphi = 2, d/dpsi = 1
The two theta-gradients conflict: dot = -12, cos = -12 / (sqrt(20) * 6).
"""

import math

import pytest
import torch

from mtbench_plugins.weightings.dwa import DWAWeighting
from mtbench_plugins.weightings.gradnorm import GradNormWeighting, last_shared_layer
from mtbench_plugins.weightings.pcgrad import PCGradWeighting, project_conflicts
from mtbench_plugins.weightings.uncertainty import UncertaintyWeighting

torch.set_num_threads(1)

COS_AB = -12 / (math.sqrt(20) * 6)
ALL = [UncertaintyWeighting, DWAWeighting, GradNormWeighting, PCGradWeighting]


class Problem:
    """The fixture's parameters and terms; theta is (1, 2) so it is a weight matrix."""

    def __init__(self) -> None:
        self.theta = torch.tensor([[1.0, 2.0]], requires_grad=True)
        self.phi = torch.tensor(1.0, requires_grad=True)
        self.psi = torch.tensor(1.0, requires_grad=True)

    def terms(self) -> dict[str, torch.Tensor]:
        t = self.theta[0]
        return {
            "a": (t * t).sum(),
            "b": (t[0] - 4) ** 2 + self.phi**2 * self.psi,
        }

    def run(self, w, theta_grad=None) -> None:
        if theta_grad is not None:
            self.theta.grad = torch.tensor([theta_grad])
        inputs = [self.theta, self.phi, *w.parameters()]
        w.backward(self.terms(), inputs, [self.theta], scale=lambda x: x)


def make(cls, base=None, unbounded=(), **cfg):
    return cls(cls.Config(**cfg), base or {"a": 2.0, "b": 1.0}, frozenset(unbounded))


def theta_grad(p: Problem) -> list[float]:
    return p.theta.grad[0].tolist()


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


# ---------------------------------------------------------------- dwa


def dwa_step(w, a: float, b: float) -> float:
    """One step with terms a and b, plus c = 1 when the weighting has a c."""
    values = {"a": a, "b": b, "c": 1.0}
    return w.combine({n: torch.tensor(float(values[n])) for n in w.base}).item()


def test_dwa_weights_by_hand():
    w = make(DWAWeighting, base={"a": 2.0, "b": 1.0, "c": 1.0}, unbounded={"c"}, temperature=2.0)
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
    w = make(DWAWeighting)
    for a, b in [(5, 10), (4, 9), (3, 9)]:
        dwa_step(w, a, b)
    other = make(DWAWeighting)
    other.load_state_dict(w.state_dict())
    assert other.steps == 3 and other.current_weights() == w.current_weights()
    assert dwa_step(other, 2, 8) == pytest.approx(dwa_step(w, 2, 8))


# ---------------------------------------------------------------- gradnorm


def test_gradnorm_first_step_by_hand():
    w = make(GradNormWeighting, lr=0.025)
    p = Problem()
    p.run(w)
    # the network step uses the weights before the update: 2 * 1 * a + 1 * 1 * b
    assert theta_grad(p) == pytest.approx([2 * 2 - 6, 2 * 4])
    assert p.phi.grad.item() == pytest.approx(2.0) and p.psi.grad is None
    # G = (sqrt 20, 6), mean 5.236, r = 1: a is below target (w up), b above (w down);
    # Adam's first step moves each by lr; the sum is already 2
    assert w.w.tolist() == pytest.approx([1.025, 0.975], rel=1e-5)
    assert w.current_weights() == pytest.approx({"a": 2 * 1.025, "b": 0.975}, rel=1e-5)
    d = w.diagnostics()
    assert d["cos/a|b"] == pytest.approx(COS_AB, rel=1e-5)
    assert d["gnorm/a"] == pytest.approx(math.sqrt(20)) and d["gnorm/b"] == pytest.approx(6.0)


def test_gradnorm_update_uses_loss_ratios_and_renormalises():
    w = make(GradNormWeighting, base={"a": 1.0, "b": 1.0, "c": 1.0}, alpha=1.0, lr=0.1)
    w.update(torch.tensor([1.0, 1.0, 1.0]), torch.tensor([1.0, 1.0, 1.0]))
    assert w.w.tolist() == pytest.approx([1.0, 1.0, 1.0])  # balanced: no move
    # a's loss has fallen least: r_a > 1, its target rises above G, so w_a grows
    w.update(torch.tensor([1.0, 0.5, 0.5]), torch.tensor([1.0, 1.0, 1.0]))
    assert w.w[0] > 1.0 > w.w[1] and w.w.sum().item() == pytest.approx(3.0)


def test_gradnorm_leaves_terms_without_a_gradient_on_the_layer_out_of_the_balance():
    three = make(GradNormWeighting, base={"a": 1.0, "b": 1.0, "c": 1.0})
    two = make(GradNormWeighting, base={"a": 1.0, "b": 1.0})
    for losses in ([1.0, 2.0, 3.0], [0.5, 2.0, 9.0]):
        three.update(torch.tensor(losses), torch.tensor([1.0, 3.0, 0.0]))
        two.update(torch.tensor(losses[:2]), torch.tensor([1.0, 3.0]))
    assert three.w.tolist() == pytest.approx(two.w.tolist() + [1.0], rel=1e-6)
    assert two.w[0] > 1.0  # sanity: the balance did move


def test_gradnorm_keeps_unbounded_terms_at_base_and_holds_no_parameters():
    w = make(GradNormWeighting, unbounded={"b"})
    assert w.adapted == ["a"] and list(w.parameters()) == []
    Problem().run(w)
    assert w.current_weights() == pytest.approx({"a": 2.0, "b": 1.0})


def test_gradnorm_watches_the_last_matrix_of_the_shared_parameters():
    m1, b1, m2, b2 = torch.ones(2, 2), torch.ones(2), torch.ones(3, 2), torch.ones(3)
    for t in (m1, b1, m2, b2):
        t.requires_grad_()
    assert last_shared_layer([m1, b1, m2, b2]) is m2
    assert last_shared_layer([b1]) is None


def test_gradnorm_state_round_trips():
    w = make(GradNormWeighting)
    Problem().run(w)
    other = make(GradNormWeighting)
    other.load_state_dict(w.state_dict())
    assert other.steps == 1 and torch.equal(other.initial, w.initial)
    Problem().run(w)
    Problem().run(other)
    assert torch.equal(other.w, w.w) and torch.equal(other.m, w.m)


# ---------------------------------------------------------------- pcgrad


def test_pcgrad_by_hand():
    w = make(PCGradWeighting)
    p = Problem()
    p.run(w, theta_grad=[1.0, 1.0])
    # g_a = 2 * (2, 4) = (4, 8), g_b = (-6, 0), dot = -24
    # g_a' = (4, 8) - (-24 / 36)(-6, 0) = (0, 8); g_b' = (-6, 0) - (-24 / 80)(4, 8) = (-4.8, 2.4)
    assert theta_grad(p) == pytest.approx([1 + 0 - 4.8, 1 + 8 + 2.4], rel=1e-6)
    assert p.phi.grad.item() == pytest.approx(2.0)  # not shared: plain sum
    assert p.psi.grad is None
    assert w.diagnostics() == pytest.approx({"cos/a|b": COS_AB}, rel=1e-6)
    assert w.current_weights() == {"a": 2.0, "b": 1.0}


def test_pcgrad_leaves_agreeing_gradients_alone():
    grads = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]])
    out = project_conflicts(grads, torch.Generator().manual_seed(0))
    assert out.tolist() == pytest.approx(grads.sum(0).tolist())


def test_pcgrad_orders_are_seeded_and_checkpointed():
    grads = torch.tensor([[1.0, 0.0], [-1.0, 0.5], [-0.2, -1.0]])
    outs = {
        s: [project_conflicts(grads, torch.Generator().manual_seed(s)) for _ in range(2)]
        for s in range(8)
    }
    assert all(torch.equal(a, b) for a, b in outs.values())
    assert len({tuple(v[0].tolist()) for v in outs.values()}) > 1  # order matters here
    w = make(PCGradWeighting, seed=3)
    Problem().run(w)
    other = make(PCGradWeighting, seed=3)
    other.load_state_dict(w.state_dict())
    assert other.steps == w.steps == 1


def test_pcgrad_applies_the_loss_scale():
    w = make(PCGradWeighting)
    p = Problem()
    w.backward(p.terms(), [p.theta, p.phi], [p.theta], scale=lambda x: 8 * x)
    assert theta_grad(p) == pytest.approx([8 * -4.8, 8 * 10.4], rel=1e-6)


# ---------------------------------------------------------------- all of them


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
