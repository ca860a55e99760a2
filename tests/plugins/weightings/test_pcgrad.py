"""PCGrad weighting (Yu et al. 2020) against hand computations on the shared weighting problem."""

import pytest
import torch
from weighting_problem import COS_AB, Problem, make, theta_grad

from mtbench_plugins.weightings.pcgrad import PCGradWeighting, project_conflicts


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


def test_pcgrad_leaves_regularizer_penalties_out_of_the_surgery():
    from mtbench.api import WeightingContext

    ctx = WeightingContext(fixed=frozenset({"b"}))
    w = PCGradWeighting(PCGradWeighting.Config(), {"a": 2.0, "b": 1.0}, ctx=ctx)
    p = Problem()
    p.run(w)
    # a's (2, 4) * 2 and the penalty b's (-6, 0) conflict; the plain sum stands
    assert theta_grad(p) == pytest.approx([2 * 2 - 6, 2 * 4])
