"""R1 and R2 penalties (Mescheder et al. 2018) against hand computations on a linear D; R2 is
R1 scoring the fake side, so both are tested here."""

from __future__ import annotations

import pytest
import torch
from penalties import linear_context

from mtbench.api import PluginConfig, Regularizer, Side
from mtbench.regularize import Regularizers
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


class Double(Regularizer):
    """An augmentation x -> 2x: the gradient by the un-augmented image is twice that by its
    augmentation, so the penalty tells which one it differentiated."""

    name = "double"

    def augment(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return 2 * images


class LinearD:
    """score = <w, x> per sample, the interface Regularizers.d_terms uses of a Discriminator."""

    def __init__(self, w: torch.Tensor) -> None:
        self.w = w

    def score(self, side: Side) -> torch.Tensor:
        return (side.images["image"] * self.w).flatten(1).sum(1)

    def score_images(self, images, labels):
        return (images * self.w).flatten(1).sum(1)


@pytest.mark.parametrize("cls", [R1, R2])
def test_penalty_differentiates_the_unaugmented_images_through_the_augmentation(cls):
    w = torch.randn(1, 1, 3, 3)
    regs = Regularizers({"double": Double(PluginConfig()), "p": cls(cls.Config(gamma=2.0))})
    real, fake = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    inputs = regs.d_inputs(real, fake, torch.Generator().manual_seed(0), step=0)
    assert torch.equal(inputs.real, 2 * real) and torch.equal(inputs.fake, 2 * fake)
    sides = [Side({"image": x}, None, {}, None) for x in (inputs.real, inputs.fake)]
    term = regs.d_terms(LinearD(w), *sides, 0, inputs)["p/penalty"]
    # d<w, 2x>/dx = 2w: gamma/2 * ||2w||^2, not gamma/2 * ||w||^2 (the augmented image's)
    assert torch.allclose(term, 0.5 * 2.0 * (2 * w).pow(2).sum())
