"""A linear discriminator whose input gradient is known, for the penalty tests."""

from __future__ import annotations

import torch

from mtbench.api import PenaltyContext, Side


def linear_context(w: torch.Tensor) -> PenaltyContext:
    """D(x) = <w, x>: its input gradient is w for every sample."""
    real = torch.randn(4, 1, 3, 3, requires_grad=True)
    fake = torch.randn(4, 1, 3, 3, requires_grad=True)

    def score(images, labels=None):
        return (images * w).flatten(1).sum(1)

    def side(x):
        return Side({"image": x}, None, {}, None)

    return PenaltyContext(side(real), side(fake), lambda s: score(s.images["image"]), score)
