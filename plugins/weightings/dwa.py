"""Dynamic weight averaging: weights from how fast each term's loss has been falling."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import PluginConfig, WeightingContext, WeightingPlugin
from mtbench_plugins.weightings.common import SteppedWeighting, check_terms, scaled_weights


class DWAWeighting(SteppedWeighting):
    """Dynamic weight averaging (Liu, Johns & Davison 2019, "End-to-end multi-task learning
    with attention"): with r_i = L_i(t-1) / L_i(t-2), w_i(t) = K softmax(r / T)_i over the K
    adapted terms, and the loss is sum base_i * w_i * L_i. The paper averages losses per
    epoch; GAN training has no epochs, so t counts ``combine`` calls (one per step). The first
    two steps use w = 1. Terms that can be negative (``unbounded``) keep w = 1: their ratio has
    no meaning. The last two losses and the step count live in the state dict, so a resumed
    run continues the same weights.
    """

    name = "dwa"
    description = "dynamic weight averaging from loss ratios over the last two steps (Liu 2019)"

    class Config(PluginConfig):
        temperature: float = Field(2.0, gt=0, le=100, description="softmax temperature T")

    def __init__(
        self,
        cfg: Config,
        base: dict[str, float],
        unbounded: frozenset[str] = frozenset(),
        ctx: WeightingContext | None = None,
    ) -> None:
        super().__init__(cfg, base, unbounded, ctx)
        n = len(self.adapted)
        self.register_buffer("history", torch.zeros(2, n))  # rows: L(t-2), L(t-1)
        self.register_buffer("weights", torch.ones(n))  # the weights of the latest step

    def _next_weights(self) -> Tensor:
        if self.steps < 2:
            return torch.ones_like(self.weights)
        ratio = self.history[1] / self.history[0].clamp_min(1e-12)
        return len(self.adapted) * torch.softmax(ratio / self.cfg.temperature, 0)

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        check_terms(terms, self.base, self.name)
        missing = [n for n in self.adapted if n not in terms]
        if missing:
            raise KeyError(f"dwa weighting needs every adapted term each step; missing {missing}")
        w = self._next_weights()
        losses = self.history.new_zeros(0)
        if self.adapted:
            losses = torch.stack([terms[n].detach().float() for n in self.adapted])
            self.ctx.dist.mean_([losses])  # the global batch's losses: ranks weigh alike
        self.weights.copy_(w)
        self.history.copy_(torch.stack([self.history[1], losses.to(self.history)]))
        self.steps += 1
        index = {n: i for i, n in enumerate(self.adapted)}
        return sum(
            self.base[n] * (t if n not in index else w[index[n]] * t) for n, t in terms.items()
        )

    def current_weights(self) -> dict[str, float]:
        return scaled_weights(self.base, self.adapted, self.weights)


@hookimpl
def mtbench_weightings() -> list[type[WeightingPlugin]]:
    return [DWAWeighting]
