"""DiffAugment (Zhao et al. 2020): translation and cutout by hand, differentiable and seeded."""

from __future__ import annotations

import torch

from mtbench_plugins.regularizers.diffaugment import DiffAugment, cutout, translation


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
