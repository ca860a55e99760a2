"""What the adversarial, AC and projection heads share: registration, config, gradient flow,
label checks and the spectral norm option."""

from dataclasses import replace

import pytest
import torch
from feature_heads import (
    HAND_HEADS,
    HEADS,
    D,
    aux_head,
    context,
    make,
    projection_head,
    side,
    sides,
)
from torch import nn
from torch.nn.utils import parametrize

from mtbench.api import DataInfo
from mtbench_plugins.heads import adversarial, aux_classifier, projection
from mtbench_plugins.heads.adversarial import AdversarialHead
from mtbench_plugins.heads.aux_classifier import AuxClassifierHead
from mtbench_plugins.heads.projection import ProjectionHead


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


@pytest.mark.parametrize("cls", [AuxClassifierHead, ProjectionHead])
def test_label_needing_heads_report_unconditional_data(cls):
    data = DataInfo(channels=1, size=16, num_classes=0)
    problems = cls.check(cls.Config(), data)
    assert len(problems) == 1 and "labels" in problems[0]
    assert cls.check(cls.Config(), DataInfo(channels=1, size=16, num_classes=3)) == []
    with pytest.raises(ValueError, match="labels"):
        make(cls, num_classes=0)


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


@pytest.mark.parametrize("cls", HEADS)
def test_spectral_norm_follows_the_trunk_unless_turned_off(cls):
    ctx = replace(context(), spectral_norm=True)  # a trunk with spectral norm
    torch.manual_seed(0)
    follows = cls(cls.Config(), ctx)
    layers = [m for m in follows.modules() if isinstance(m, (nn.Linear, nn.Embedding))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    off = cls(cls.Config(spectral_norm=False), ctx)
    assert not any(parametrize.is_parametrized(m) for m in off.modules())


def test_heads_follow_a_spectral_norm_trunk_in_a_run(registry):
    from helpers import tiny_spec

    from mtbench.compose import compose
    from mtbench.spec import resolve

    s = tiny_spec()
    s["discriminator"]["trunk"]["spectral_norm"] = True
    s["discriminator"]["heads"] = [{"type": "projection"}, {"type": "aux_classifier"}]
    parts = compose(resolve(s, registry), registry, torch.device("cpu"))
    proj = parts.discriminator.heads["projection"]
    assert parametrize.is_parametrized(proj.embed, "weight")
    assert parametrize.is_parametrized(proj.psi, "weight")
