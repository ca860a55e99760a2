"""Exponential moving average of the generator's weights (Karras 2018; Yazici 2019)."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    """Keeps ``model`` = decay * model + (1 - decay) * source; buffers are copied."""

    def __init__(self, source: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(source).requires_grad_(False)
        self._src_params = list(source.parameters())
        self._dst_params = list(self.model.parameters())
        self._src_bufs = [b for b in source.buffers() if b.is_floating_point()]
        self._dst_bufs = [b for b in self.model.buffers() if b.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        torch._foreach_lerp_(self._dst_params, self._src_params, 1.0 - self.decay)
        if self._dst_bufs:
            torch._foreach_copy_(self._dst_bufs, self._src_bufs)
