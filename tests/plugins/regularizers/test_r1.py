"""R1 and R2 penalties (Mescheder et al. 2018) against hand computations on a linear D; R2 is
R1 scoring the fake side, so both are tested here."""

from __future__ import annotations

import pytest
import torch
from penalties import linear_context

from mtbench_plugins.regularizers.r1 import R1
from mtbench_plugins.regularizers.r2 import R2


@pytest.mark.parametrize("cls", [R1, R2])
def test_r1_r2_equal_half_gamma_squared_gradient_norm(cls):
    w = torch.randn(1, 1, 3, 3, requires_grad=True)
    reg = cls(cls.Config(gamma=4.0))
    term = reg.d_terms(linear_context(w))["penalty"]
    assert torch.allclose(term, 0.5 * 4.0 * w.pow(2).sum())
    (g,) = torch.autograd.grad(term, w)  # the penalty trains D's parameters
    assert torch.allclose(g, 4.0 * w)


@pytest.mark.parametrize("cls, scored", [(R1, "real"), (R2, "fake")])
def test_a_penalty_scores_only_the_side_it_reads(cls, scored):
    ctx = linear_context(torch.randn(1, 1, 3, 3))
    calls = []
    side_score = ctx.side_score
    ctx.side_score = lambda s: calls.append("real" if s is ctx.real else "fake") or side_score(s)
    cls(cls.Config()).d_terms(ctx)
    assert calls == [scored]


def test_lazy_r1_runs_every_n_steps_scaled_by_n():
    w = torch.ones(1, 1, 3, 3)
    reg = R1(R1.Config(gamma=2.0, every=4))
    assert [reg.active(s) for s in range(5)] == [True, False, False, False, True]
    assert reg.d_terms(linear_context(w))["penalty"].item() == pytest.approx(0.5 * 2 * 4 * 9)
