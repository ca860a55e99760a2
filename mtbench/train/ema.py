"""Exponential moving average of the generator's weights (Karras 2018; Yazici 2019).

The decay warms up as min(decay, (1 + t) / (10 + t)) over updates t, so short runs are not
dominated by their first, untrained weights (the usual num_updates warm-up of EMA).
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``model`` = d * model + (1 - d) * source with warmed-up d; buffers are copied."""

    def __init__(self, source: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(source).requires_grad_(False)
        self._src_params = list(source.parameters())
        self._dst_params = list(self.model.parameters())
        self._src_bufs = [b for b in source.buffers() if b.is_floating_point()]
        self._dst_bufs = [b for b in self.model.buffers() if b.is_floating_point()]

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self._dst_params, self._src_params, 1.0 - self.current_decay())
        if self._dst_bufs:
            torch._foreach_copy_(self._dst_bufs, self._src_bufs)
        self.updates += 1
