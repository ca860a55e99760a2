"""Adversarial head: terms and named losses against hand computations on fixed features."""

import pytest
import torch
from feature_heads import adversarial_head, feats, make, side, sides
from helpers import sp

from mtbench.api import DataInfo
from mtbench_plugins.heads.adversarial import AdversarialHead

torch.set_num_threads(1)


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


# ---------------------------------------------------------------- checks and spectral norm


def test_adversarial_head_works_unconditionally():
    assert AdversarialHead.check(AdversarialHead.Config(), DataInfo(1, 16, 0)) == []
    head = make(AdversarialHead, num_classes=0)
    real, fake = side(feats([1.0]), None), side(feats([2.0]), None)
    assert torch.isfinite(head.d_terms(real, fake)["adv"])


def test_lsgan_terms_are_regression_terms_for_uncertainty_weighting():
    from feature_heads import context, make

    from mtbench_plugins.heads.projection import ProjectionHead

    for cls in (AdversarialHead, ProjectionHead):
        assert make(cls).regression_terms("d") == set()  # ns: a cross-entropy
        lsgan = cls(cls.Config(loss="lsgan"), context())
        assert lsgan.regression_terms("d") == {"adv"} == lsgan.regression_terms("g")
