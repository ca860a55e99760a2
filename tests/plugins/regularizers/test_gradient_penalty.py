"""WGAN-GP gradient penalty (Gulrajani et al. 2017) on a linear D."""

from __future__ import annotations

import pytest
import torch
from penalties import linear_context

from mtbench_plugins.regularizers.gradient_penalty import GradientPenalty


def test_gradient_penalty_pulls_the_gradient_norm_to_one():
    w = torch.full((1, 1, 3, 3), 1.0, requires_grad=True)  # ||grad|| = 3
    gp = GradientPenalty(GradientPenalty.Config(weight=10.0))
    term = gp.d_terms(linear_context(w))["penalty"]
    assert term.item() == pytest.approx(10.0 * (3.0 - 1.0) ** 2)
    assert torch.autograd.grad(term, w)[0].abs().sum() > 0
