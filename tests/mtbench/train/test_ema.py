"""Generator EMA: warmed-up decay, exact arithmetic, buffers copied."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mtbench.train.ema import EMA


def test_decay_warms_up_then_caps():
    ema = EMA(nn.Linear(2, 2), 0.999)
    seen = []
    for _ in range(10_000):
        seen.append(ema.current_decay())
        ema.updates += 1
    assert seen[0] == pytest.approx(0.1) and seen[90] == pytest.approx(91 / 100)
    assert seen[-1] == 0.999 and all(a <= b for a, b in zip(seen, seen[1:]))


def test_update_is_a_lerp_with_the_current_decay_and_copies_buffers():
    src = nn.BatchNorm1d(3)
    ema = EMA(src, 0.5)
    old = ema.model.weight.clone()
    with torch.no_grad():
        src.weight.fill_(3.0)
        src.running_mean.fill_(7.0)
    d = ema.current_decay()  # 0.1 at the first update
    ema.update()
    assert torch.allclose(ema.model.weight, d * old + (1 - d) * 3.0)
    assert torch.equal(ema.model.running_mean, src.running_mean)
    assert ema.updates == 1
