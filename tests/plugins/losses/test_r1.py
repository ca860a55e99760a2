"""Penalties against hand computations on a linear D; DiffAugment; regularizers in real runs."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from helpers import tiny_spec, write_spec

from mtbench.api import PenaltyContext, Side
from mtbench.cli import main
from mtbench_plugins.losses.diffaugment import DiffAugment, cutout, translation
from mtbench_plugins.losses.gradient_penalty import GradientPenalty
from mtbench_plugins.losses.r1 import R1
from mtbench_plugins.losses.r2 import R2


def _linear_ctx(w: torch.Tensor) -> PenaltyContext:
    """D(x) = <w, x>: its input gradient is w for every sample."""
    real = torch.randn(4, 1, 3, 3, requires_grad=True)
    fake = torch.randn(4, 1, 3, 3, requires_grad=True)

    def score(images, labels=None):
        return (images * w).flatten(1).sum(1)

    def side(x):
        return Side({"image": x}, None, {}, None)

    return PenaltyContext(side(real), side(fake), lambda s: score(s.images["image"]), score)


@pytest.mark.parametrize("cls", [R1, R2])
def test_r1_r2_equal_half_gamma_squared_gradient_norm(cls):
    w = torch.randn(1, 1, 3, 3, requires_grad=True)
    reg = cls(cls.Config(gamma=4.0))
    term = reg.d_terms(_linear_ctx(w))["penalty"]
    assert torch.allclose(term, 0.5 * 4.0 * w.pow(2).sum())
    (g,) = torch.autograd.grad(term, w)  # the penalty trains D's parameters
    assert torch.allclose(g, 4.0 * w)


@pytest.mark.parametrize("cls, scored", [(R1, "real"), (R2, "fake")])
def test_a_penalty_scores_only_the_side_it_reads(cls, scored):
    ctx = _linear_ctx(torch.randn(1, 1, 3, 3))
    calls = []
    side_score = ctx.side_score
    ctx.side_score = lambda s: calls.append("real" if s is ctx.real else "fake") or side_score(s)
    cls(cls.Config()).d_terms(ctx)
    assert calls == [scored]


def test_lazy_r1_runs_every_n_steps_scaled_by_n():
    w = torch.ones(1, 1, 3, 3)
    reg = R1(R1.Config(gamma=2.0, every=4))
    assert [reg.active(s) for s in range(5)] == [True, False, False, False, True]
    assert reg.d_terms(_linear_ctx(w))["penalty"].item() == pytest.approx(0.5 * 2 * 4 * 9)


def test_gradient_penalty_pulls_the_gradient_norm_to_one():
    w = torch.full((1, 1, 3, 3), 1.0, requires_grad=True)  # ||grad|| = 3
    gp = GradientPenalty(GradientPenalty.Config(weight=10.0))
    term = gp.d_terms(_linear_ctx(w))["penalty"]
    assert term.item() == pytest.approx(10.0 * (3.0 - 1.0) ** 2)
    assert torch.autograd.grad(term, w)[0].abs().sum() > 0


def test_translation_shifts_and_fills_with_zeros():
    x = torch.arange(16.0).view(1, 1, 4, 4) + 1
    gen = torch.Generator().manual_seed(0)
    y = translation(x, gen, 0.25)  # shift of at most one pixel each way
    assert y.shape == x.shape
    nonzero = y[y != 0]
    assert set(nonzero.tolist()) <= set(x.flatten().tolist())
    found = [
        (dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if torch.equal(y, _shift(x, dy, dx))
    ]
    assert len(found) == 1


def _shift(x, dy, dx):
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    for i in range(h):
        for j in range(w):
            si, sj = i + dy, j + dx
            if 0 <= si < h and 0 <= sj < w:
                out[..., i, j] = x[..., si, sj]
    return out


def test_cutout_zeroes_at_most_a_ratio_square():
    x = torch.ones(64, 1, 8, 8)
    y = cutout(x, torch.Generator().manual_seed(1), 0.5)
    zeros = (y == 0).flatten(1).sum(1)
    assert zeros.max() == 16 and zeros.min() > 0


def test_diffaugment_is_differentiable_and_seeded():
    aug = DiffAugment(DiffAugment.Config())
    x = torch.rand(8, 3, 16, 16, requires_grad=True)
    a = aug.augment(x, torch.Generator().manual_seed(3))
    b = aug.augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, x)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_runs_with_every_regularizer(tmp_path):
    s = tiny_spec(out=str(tmp_path / "run"))
    s["regularizers"] = [
        {"type": "diffaugment"},
        {"type": "r1", "gamma": 1.0},
        {"type": "r2", "gamma": 1.0, "every": 2},
        {"type": "gradient_penalty"},
    ]
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    for name in ("r1", "r2", "gradient_penalty"):
        assert (steps[f"loss/d/{name}/penalty"] >= 0).all()
    assert (steps["loss/d/r1/penalty"] > 0).all()


@pytest.mark.parametrize("layout", ["separate", "shared_trunk"])
def test_penalties_train_an_ensemble_alone(tmp_path, layout):
    s = tiny_spec(out=str(tmp_path / "run"))
    head = {"type": "ensemble", "k": 2, "layout": layout}
    if layout == "separate":
        head["trunk"] = {"type": "dcgan", "width": 8}
    s["discriminator"]["heads"] = [head]
    s["regularizers"] = [{"type": "r1", "gamma": 1.0}, {"type": "gradient_penalty"}]
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    assert (steps["loss/d/r1/penalty"] > 0).all()
    assert (steps["loss/d/gradient_penalty/penalty"] >= 0).all()


@pytest.mark.parametrize(
    "where, value, expected",
    [
        ("loss", {"type": "r1"}, "loss.type: 'r1' is a regularizer; list it under regularizers"),
        ("regularizers", [{"type": "hinge"}], "regularizers[0].type: 'hinge' is an adversarial"),
    ],
)
def test_regularizer_and_family_are_not_interchangeable(tmp_path, capsys, where, value, expected):
    s = tiny_spec()
    s[where] = value
    assert main(["validate", str(write_spec(tmp_path / "s.json", s))]) == 2
    assert capsys.readouterr().err.startswith(expected)


def test_penalty_without_a_scoring_head_is_an_error(tmp_path, capsys):
    s = tiny_spec(out=str(tmp_path / "run"))
    s["discriminator"]["heads"] = [{"type": "aux_classifier"}]
    s["regularizers"] = [{"type": "r1"}]
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 2
    assert "regularizers: penalties need a head with a real/fake score" in capsys.readouterr().err
