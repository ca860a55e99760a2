"""Heads: terms against hand computations on tiny fixed features, gradient flow, checks."""

import math

import pytest
import torch
from helpers import ce
from torch import nn
from torch.nn.utils import parametrize

from mtbench.api import DataInfo, HeadContext, Side
from mtbench_plugins.heads import adversarial, aux_classifier, projection
from mtbench_plugins.heads.adversarial import AdversarialHead
from mtbench_plugins.heads.aux_classifier import AuxClassifierHead
from mtbench_plugins.heads.projection import ProjectionHead
from mtbench_plugins.losses.adversarial import mtbench_losses

torch.set_num_threads(1)

D = 8
FAMILIES = {cls.name: cls for cls in mtbench_losses()}
HEADS = [AdversarialHead, AuxClassifierHead, ProjectionHead]


def build_loss(name: str):
    return FAMILIES[name](FAMILIES[name].Config())


def context(num_classes: int = 3) -> HeadContext:
    return HeadContext(
        data=DataInfo(channels=1, size=16, num_classes=num_classes),
        feature_dim=D,
        loss=build_loss("ns"),
        trunk=nn.Identity(),
        build_trunk=lambda spec: None,
        build_loss=build_loss,
    )


def make(cls, num_classes: int = 3, **cfg):
    torch.manual_seed(0)
    return cls(cls.Config(**cfg), context(num_classes))


def feats(*rows: list[float], grad: bool = False) -> torch.Tensor:
    """Features (len(rows), D): each row's leading values, zero-padded."""
    t = torch.zeros(len(rows), D)
    for i, row in enumerate(rows):
        t[i, : len(row)] = torch.tensor(row)
    return t.requires_grad_(grad)


def side(features: torch.Tensor, labels: list[int] | None) -> Side:
    y = None if labels is None else torch.tensor(labels)
    return Side(images={}, labels=y, targets={}, features=features)


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


def set_weights(layer: nn.Module, weight: list[list[float]], bias: list[float] | None) -> None:
    with torch.no_grad():
        layer.weight.zero_()
        w = torch.tensor(weight)
        layer.weight[:, : w.shape[1]] = w
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias))


# ---------------------------------------------------------------- fixtures by hand


def adversarial_head(**cfg) -> AdversarialHead:
    """logit = f0 - f1 + 0.5."""
    head = make(AdversarialHead, **cfg)
    set_weights(head.linear, [[1.0, -1.0]], [0.5])
    return head


def aux_head(**cfg) -> AuxClassifierHead:
    """class logits = the first three features."""
    head = make(AuxClassifierHead, **cfg)
    set_weights(head.classifier, torch.eye(3).tolist(), [0.0, 0.0, 0.0])
    return head


def projection_head(**cfg) -> ProjectionHead:
    """logit = f0 + <embed(y), f> with embed(0) = e1, embed(1) = 2 e2, embed(2) = 0."""
    head = make(ProjectionHead, **cfg)
    set_weights(head.psi, [[1.0]], [0.0])
    set_weights(head.embed, [[0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]], None)
    return head


def sides(grad: bool = False) -> tuple[Side, Side]:
    real = side(feats([2.0, 1.0, 0.0], [0.0, 3.0, 1.0], grad=grad), [0, 1])
    fake = side(feats([1.0, 1.0, 0.0], [-1.0, 0.0, 0.0], grad=grad), [1, 2])
    return real, fake


# ---------------------------------------------------------------- registration, config


def test_registered_through_hooks():
    assert adversarial.mtbench_heads() == [AdversarialHead]
    assert aux_classifier.mtbench_heads() == [AuxClassifierHead]
    assert projection.mtbench_heads() == [ProjectionHead]
    for cls in HEADS:
        assert cls.kind == "head" and cls.name and cls.description and cls.__doc__


@pytest.mark.parametrize("cls", HEADS)
def test_config_rejects_unknown_fields(cls):
    with pytest.raises(ValueError):
        cls.Config(weight=2.0)


# ---------------------------------------------------------------- values by hand


def test_adversarial_terms_by_hand():
    real, fake = sides()  # real logits 1.5, -2.5; fake logits 0.5, -0.5
    head = adversarial_head()
    d = head.d_terms(real, fake)
    g = head.g_terms(fake, real)
    assert set(d) == {"adv"} and set(g) == {"adv"}
    expected_d = (sp(-1.5) + sp(2.5)) / 2 + (sp(0.5) + sp(-0.5)) / 2
    assert d["adv"].item() == pytest.approx(expected_d, rel=1e-6)
    assert g["adv"].item() == pytest.approx((sp(-0.5) + sp(0.5)) / 2, rel=1e-6)


def test_adversarial_named_loss_overrides_the_spec_loss():
    real, fake = sides()
    head = adversarial_head(loss="hinge")
    expected_d = (0.0 + 3.5) / 2 + (1.5 + 0.5) / 2
    assert head.d_terms(real, fake)["adv"].item() == pytest.approx(expected_d)
    assert head.g_terms(fake, real)["adv"].item() == pytest.approx(0.0)


def test_aux_classifier_terms_by_hand():
    real, fake = sides()  # real logits (2,1,0) y0, (0,3,1) y1; fake (1,1,0) y1, (-1,0,0) y2
    head = aux_head()
    d = head.d_terms(real, fake)
    g = head.g_terms(fake, real)
    ce_real = (ce([2, 1, 0], 0) + ce([0, 3, 1], 1)) / 2
    ce_fake = (ce([1, 1, 0], 1) + ce([-1, 0, 0], 2)) / 2
    assert set(d) == {"ce_real", "ce_fake"} and set(g) == {"ce"}
    assert d["ce_real"].item() == pytest.approx(ce_real, rel=1e-6)
    assert d["ce_fake"].item() == pytest.approx(ce_fake, rel=1e-6)
    assert g["ce"].item() == pytest.approx(ce_fake, rel=1e-6)


def test_aux_classifier_without_fakes_in_d():
    real, fake = sides()
    assert set(aux_head(d_on_fake=False).d_terms(real, fake)) == {"ce_real"}


def test_projection_terms_by_hand():
    # real: f0 + 1*f1 (y0) = 2 + 1 = 3; f0 + 2*f2 (y1) = 0 + 2 = 2
    # fake: f0 + 2*f2 (y1) = 1 + 0 = 1; f0 + 0 (y2) = -1
    real, fake = sides()
    head = projection_head()
    d = head.d_terms(real, fake)
    g = head.g_terms(fake, real)
    assert set(d) == {"adv"} and set(g) == {"adv"}
    expected_d = (sp(-3.0) + sp(-2.0)) / 2 + (sp(1.0) + sp(-1.0)) / 2
    assert d["adv"].item() == pytest.approx(expected_d, rel=1e-6)
    assert g["adv"].item() == pytest.approx((sp(-1.0) + sp(1.0)) / 2, rel=1e-6)


def test_projection_named_loss():
    real, fake = sides()
    head = projection_head(loss="wasserstein")
    assert head.d_terms(real, fake)["adv"].item() == pytest.approx(0.0 - 2.5)
    assert head.g_terms(fake, real)["adv"].item() == pytest.approx(0.0)


# ---------------------------------------------------------------- gradient flow


HAND_HEADS = [adversarial_head, aux_head, projection_head]


@pytest.mark.parametrize("build", HAND_HEADS)
def test_d_terms_reach_head_parameters_and_both_sides(build):
    head = build()
    real, fake = sides(grad=True)
    sum(head.d_terms(real, fake).values()).backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert real.features.grad.abs().sum() > 0
    assert fake.features.grad.abs().sum() > 0


@pytest.mark.parametrize("build", HAND_HEADS)
def test_g_terms_reach_fake_features_and_not_the_real_side(build):
    head = build()
    real, fake = sides(grad=True)
    sum(head.g_terms(fake, real).values()).backward()
    assert fake.features.grad.abs().sum() > 0
    assert real.features.grad is None


@pytest.mark.parametrize("build", HAND_HEADS)
def test_g_terms_do_not_look_at_the_real_side(build):
    head = build()
    real, fake = sides()
    expected = {k: v.item() for k, v in head.g_terms(fake, real).items()}
    junk = side(torch.full((2, D), float("nan")), None)
    assert {k: v.item() for k, v in head.g_terms(fake, junk).items()} == expected


# ---------------------------------------------------------------- checks and spectral norm


@pytest.mark.parametrize("cls", [AuxClassifierHead, ProjectionHead])
def test_label_needing_heads_report_unconditional_data(cls):
    data = DataInfo(channels=1, size=16, num_classes=0)
    problems = cls.check(cls.Config(), data)
    assert len(problems) == 1 and "labels" in problems[0]
    assert cls.check(cls.Config(), DataInfo(channels=1, size=16, num_classes=3)) == []
    with pytest.raises(ValueError, match="labels"):
        make(cls, num_classes=0)


def test_adversarial_head_works_unconditionally():
    assert AdversarialHead.check(AdversarialHead.Config(), DataInfo(1, 16, 0)) == []
    head = make(AdversarialHead, num_classes=0)
    real, fake = side(feats([1.0]), None), side(feats([2.0]), None)
    assert torch.isfinite(head.d_terms(real, fake)["adv"])


@pytest.mark.parametrize("build", [aux_head, projection_head])
def test_missing_labels_at_run_time_is_a_clear_error(build):
    real, fake = sides()
    with pytest.raises(ValueError, match="labels"):
        build().g_terms(side(fake.features, None), real)


@pytest.mark.parametrize("cls", HEADS)
def test_spectral_norm_option(cls):
    plain = make(cls)
    normed = make(cls, spectral_norm=True)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())
    layers = [m for m in normed.modules() if isinstance(m, (nn.Linear, nn.Embedding))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    real, fake = side(torch.randn(2, D), [0, 1]), side(torch.randn(2, D), [2, 0])
    assert all(torch.isfinite(v) for v in normed.d_terms(real, fake).values())
