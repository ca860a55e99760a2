"""AC-GAN auxiliary classifier head: terms against hand computations on fixed features."""

import pytest
from feature_heads import aux_head, sides
from helpers import ce


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
