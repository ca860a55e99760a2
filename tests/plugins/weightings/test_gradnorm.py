"""GradNorm weighting (Chen et al. 2018) against hand computations on the shared problem."""

import math

import pytest
import torch
from weighting_problem import COS_AB, Problem, make, theta_grad

from mtbench_plugins.weightings.gradnorm import GradNormWeighting, last_shared_layer


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


def test_gradnorm_on_multi_output_balances_on_the_shared_trunk(registry, tmp_path):
    from helpers import tiny_spec

    from mtbench import spec as S
    from mtbench.compose import compose
    from mtbench.train.loop import Trainer

    s = tiny_spec(weighting={"type": "gradnorm"})
    s["dataset"] = {"type": "shapes", "size": 16, "n": 64}
    s["generator"] = {"type": "multi_output", "z_dim": 8, "width": 8, "embed_dim": 4}
    r = S.resolve(s, registry)
    cpu = torch.device("cpu")
    trainer = Trainer.from_spec(r, compose(r, registry, cpu), cpu)
    layer = last_shared_layer(trainer.g_shared)
    assert layer is trainer.G.ups[-1].weight  # not the last branch's output convolution
    trainer.train_step(timed=True)
    norms = trainer.p.g_weighting.diagnostics()
    assert all(v > 0 for k, v in norms.items() if k.startswith("gnorm/"))
