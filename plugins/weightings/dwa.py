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
    with attention", CVPR, eq. 7; the authors' code, lorenmt/mtan, averages each task's loss
    over an epoch before the ratio): with A_i(k) the mean of term i over the k-th window of
    ``window`` steps and r_i = A_i(k-1) / A_i(k-2) over the last two complete windows,
    w_i = K softmax(r / T)_i over the K adapted terms, and the loss is sum base_i * w_i * L_i.
    GAN training has no epochs, so a window of steps stands in for one (``window: 1`` is the
    ratio of single batches). Until two windows are complete w = 1. Terms that can be negative
    (``unbounded``) and regularizer penalties (``ctx.fixed``) keep w = 1. The running sums,
    the last two window means and the step count live in the state dict, so a resumed run
    continues the same weights.
    """

    name = "dwa"
    description = "dynamic weight averaging from ratios of windowed mean losses (Liu 2019)"

    class Config(PluginConfig):
        temperature: float = Field(2.0, gt=0, le=100, description="softmax temperature T")
        window: int = Field(
            50, ge=1, le=100_000, description="steps per loss average (the paper's epoch)"
        )

    def __init__(
        self,
        cfg: Config,
        base: dict[str, float],
        unbounded: frozenset[str] = frozenset(),
        ctx: WeightingContext | None = None,
    ) -> None:
        super().__init__(cfg, base, unbounded, ctx)
        n = len(self.adapted)
        self.register_buffer("history", torch.zeros(2, n))  # rows: A(k-2), A(k-1)
        self.register_buffer("running", torch.zeros(n))  # sum of the current window's losses
        self.register_buffer("weights", torch.ones(n))  # the weights of the latest step

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # checkpoints from before windows had no running sum: start the window afresh
        state_dict.setdefault(prefix + "running", torch.zeros_like(self.running))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _next_weights(self) -> Tensor:
        if self.steps < 2 * self.cfg.window:
            return torch.ones_like(self.weights)
        ratio = self.history[1] / self.history[0].clamp_min(1e-12)
        return len(self.adapted) * torch.softmax(ratio / self.cfg.temperature, 0)

    def _record(self, losses: Tensor) -> None:
        """Add this step's losses to the window; a full window becomes the newest mean."""
        self.running.add_(losses.to(self.running))
        self.steps += 1
        if self.steps % self.cfg.window == 0:
            mean = self.running / self.cfg.window
            self.history.copy_(torch.stack([self.history[1], mean]))
            self.running.zero_()

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
        self._record(losses)
        index = {n: i for i, n in enumerate(self.adapted)}
        return sum(
            self.base[n] * (t if n not in index else w[index[n]] * t) for n, t in terms.items()
        )

    def current_weights(self) -> dict[str, float]:
        return scaled_weights(self.base, self.adapted, self.weights)


@hookimpl
def mtbench_weightings() -> list[type[WeightingPlugin]]:
    return [DWAWeighting]
