"""Projection head (Miyato & Koyama 2018): terms against hand computations on fixed features."""

import pytest
from feature_heads import projection_head, sides
from helpers import sp


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
