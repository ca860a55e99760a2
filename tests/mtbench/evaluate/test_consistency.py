"""Cross-task consistency distances: MAE in [0, 1] units and PSNR, by hand."""

from __future__ import annotations

import math

import pytest
import torch

from mtbench.evaluate.consistency import PSNR_CAP, distances, psnr


def test_distances_by_hand():
    a = torch.zeros(3, 1, 4, 4, dtype=torch.uint8)
    b = a.clone()
    b[0, 0, 0, 0] = 255  # one pixel of 48 off by the full range
    mae, p = distances(a, b)
    assert mae == pytest.approx(1 / 48)
    assert p == pytest.approx(10 * math.log10(48))


def test_identical_images_hit_the_cap_and_chunks_add_up():
    x = torch.randint(0, 256, (5000, 1, 3, 3), dtype=torch.uint8)
    assert distances(x, x) == (0.0, PSNR_CAP)
    y = 255 - x
    mae, _ = distances(x, y)
    assert mae == pytest.approx((x.double() - y.double()).abs().mean().item() / 255)
    assert psnr(1.0) == 0.0 and psnr(0.0) == PSNR_CAP


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="shapes"):
        distances(torch.zeros(1, 1, 2, 2, dtype=torch.uint8), torch.zeros(1, 1, 4, 4))
