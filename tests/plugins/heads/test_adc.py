"""ADC-GAN head: 2K-way terms by hand, gradient reach, checks, a tiny run."""

import pytest
import torch
from helpers import ce, feature_side, make_head, tiny_spec

from mtbench.api import DataInfo, Side
from mtbench.compose import compose
from mtbench.spec import resolve
from mtbench.train.loop import Trainer
from mtbench_plugins.heads import adc
from mtbench_plugins.heads.adc import ADCHead

D = 8


def make(num_classes: int = 3, **cfg) -> ADCHead:
    return make_head(ADCHead, DataInfo(1, 16, num_classes), D, **cfg)


REAL = [[2, 1, 0, 0, 0, 1], [0, 3, 1, 1, 0, 0]]
FAKE = [[1, 1, 0, 2, 0, 0], [-1, 0, 0, 0, 1, 3]]


def hand_head() -> ADCHead:
    """2K = 6 logits = features 0..5: real-0, real-1, real-2, fake-0, fake-1, fake-2."""
    head = make()
    with torch.no_grad():
        head.classifier.weight.zero_()
        head.classifier.bias.zero_()
        head.classifier.weight[:, :6] = torch.eye(6)
    return head


def sides(grad: bool = False) -> tuple[Side, Side]:
    return feature_side(REAL, [0, 1], grad), feature_side(FAKE, [1, 2], grad)


def test_registered_with_config_and_doc():
    assert adc.mtbench_heads() == [ADCHead]
    assert ADCHead.kind == "head" and ADCHead.name == "adc" and ADCHead.description
    assert "Hou" in ADCHead.__doc__
    with pytest.raises(ValueError):
        ADCHead.Config(weight=2.0)


def test_classifier_has_two_logits_per_class():
    real, _ = sides()
    assert make(num_classes=5).classifier(real.features).shape == (2, 10)


def test_terms_by_hand():
    real, fake = sides()
    head = hand_head()
    d, g = head.d_terms(real, fake), head.g_terms(fake, real)
    assert set(d) == {"ce_real", "ce_fake"} and set(g) == {"ce_real_class", "neg_ce_fake_class"}
    # real class k is logit k; fake class k is logit 3 + k
    assert d["ce_real"].item() == pytest.approx((ce(REAL[0], 0) + ce(REAL[1], 1)) / 2)
    assert d["ce_fake"].item() == pytest.approx((ce(FAKE[0], 4) + ce(FAKE[1], 5)) / 2)
    assert g["ce_real_class"].item() == pytest.approx((ce(FAKE[0], 1) + ce(FAKE[1], 2)) / 2)
    assert g["neg_ce_fake_class"].item() == pytest.approx(-(ce(FAKE[0], 4) + ce(FAKE[1], 5)) / 2)


def test_d_terms_reach_the_classifier_and_both_sides():
    head = hand_head()
    real, fake = sides(grad=True)
    sum(head.d_terms(real, fake).values()).backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert real.features.grad.abs().sum() > 0 and fake.features.grad.abs().sum() > 0


def test_g_terms_reach_the_fake_side_only():
    head = hand_head()
    real, fake = sides(grad=True)
    sum(head.g_terms(fake, real).values()).backward()
    assert fake.features.grad.abs().sum() > 0 and real.features.grad is None


def test_only_the_negated_fake_class_term_is_unbounded():
    head = make()
    assert head.unbounded_terms("g") == {"neg_ce_fake_class"}
    assert head.unbounded_terms("d") == set()


def test_needs_labels():
    problems = ADCHead.check(ADCHead.Config(), DataInfo(1, 16, 0))
    assert len(problems) == 1 and "labels" in problems[0]
    assert ADCHead.check(ADCHead.Config(), DataInfo(1, 16, 3)) == []
    with pytest.raises(ValueError, match="labels"):
        make(num_classes=0)


def test_spectral_norm_option_keeps_terms_finite():
    real, fake = sides()
    assert all(torch.isfinite(v) for v in make(spectral_norm=True).d_terms(real, fake).values())


def test_discovered_and_trains_in_a_tiny_run(registry):
    assert registry.get("head", "adc") is ADCHead
    spec = tiny_spec()
    spec["discriminator"]["heads"] = [{"type": "adversarial"}, {"type": "adc"}]
    r = resolve(spec, registry)
    trainer = Trainer.from_spec(r, compose(r, registry, torch.device("cpu")), torch.device("cpu"))
    d, g = trainer.train_step(False)
    assert {"adc/ce_real", "adc/ce_fake"} <= set(d)
    assert {"adc/ce_real_class", "adc/neg_ce_fake_class"} <= set(g)
