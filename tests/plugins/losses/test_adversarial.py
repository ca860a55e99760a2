"""Adversarial loss families against hand computations on tiny fixed logits."""

import pytest
import torch
from helpers import sp

from mtbench_plugins.losses import adversarial as mod

torch.set_num_threads(1)

REAL = torch.tensor([1.0, -2.0])
FAKE = torch.tensor([0.5, 3.0])


def relu(x: float) -> float:
    return max(x, 0.0)


# name -> (expected D loss, expected G loss) for REAL, FAKE above
EXPECTED = {
    "ns": (
        (sp(-1.0) + sp(2.0)) / 2 + (sp(0.5) + sp(3.0)) / 2,
        (sp(-0.5) + sp(-3.0)) / 2,
    ),
    "hinge": (
        (relu(1 - 1.0) + relu(1 + 2.0)) / 2 + (relu(1 + 0.5) + relu(1 + 3.0)) / 2,
        -(0.5 + 3.0) / 2,
    ),
    "wasserstein": ((0.5 + 3.0) / 2 - (1.0 - 2.0) / 2, -(0.5 + 3.0) / 2),
    "lsgan": (
        0.5 * (((1.0 - 1) ** 2 + (-2.0 - 1) ** 2) / 2 + (0.5**2 + 3.0**2) / 2),
        0.5 * ((0.5 - 1) ** 2 + (3.0 - 1) ** 2) / 2,
    ),
}


def family(name: str):
    classes = {cls.name: cls for cls in mod.mtbench_losses()}
    cls = classes[name]
    return cls(cls.Config())


def test_hook_lists_every_family_once():
    names = [cls.name for cls in mod.mtbench_losses()]
    assert sorted(names) == sorted(EXPECTED)
    for cls in mod.mtbench_losses():
        assert cls.kind == "loss" and cls.description and cls.__doc__
        assert cls.Config.model_fields == {}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_d_and_g_values_match_hand_computation(name):
    loss = family(name)
    d_expected, g_expected = EXPECTED[name]
    assert loss.d_loss(REAL, FAKE).item() == pytest.approx(d_expected, rel=1e-6)
    assert loss.g_loss(FAKE).item() == pytest.approx(g_expected, rel=1e-6)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_column_logits_give_the_same_value(name):
    loss = family(name)
    d = loss.d_loss(REAL[:, None], FAKE[:, None])
    assert d.shape == () and d.item() == pytest.approx(EXPECTED[name][0], rel=1e-6)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_d_pushes_real_up_and_fake_down(name):
    real, fake = REAL.clone().requires_grad_(), FAKE.clone().requires_grad_()
    family(name).d_loss(real, fake).backward()
    assert (real.grad <= 0).all() and (fake.grad >= 0).all()
    assert real.grad.abs().sum() > 0 and fake.grad.abs().sum() > 0


def test_config_rejects_unknown_fields():
    with pytest.raises(ValueError):
        mod.HingeLoss.Config(margin=2.0)
