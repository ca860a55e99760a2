"""Uncertainty weighting: learned per-term log-variances (homoscedastic task uncertainty)."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import PluginConfig, WeightingContext, WeightingPlugin
from mtbench_plugins.weightings.common import check_terms, scaled_weights


class UncertaintyWeighting(WeightingPlugin):
    """Kendall, Gal & Cipolla 2018, "Multi-task learning using uncertainty to weigh losses":
    each term i learns a log-variance s_i, trained by the player's optimizer, and contributes
    base_i * (exp(-s_i) * L_i + s_i); with ``regression_form`` the paper's Gaussian form
    base_i * (0.5 * exp(-s_i) * L_i + 0.5 * s_i). The effective weight base_i * exp(-s_i) (times
    0.5) is what ``current_weights`` logs. At the optimum exp(-s_i) = 1 / L_i, so the spec's
    base weights keep their relative meaning, and a term with base 0 stays off.

    The log-variances are clamped to +-``max_log_var``: a term that reaches 0 (a hinge D loss)
    would otherwise drive its s_i to -inf. Terms that can be negative (``unbounded``: hinge G,
    Wasserstein) would diverge the same way; unless ``learn_unbounded`` they keep their base
    weight.
    """

    name = "uncertainty"
    description = "learned log-variance per loss term (Kendall et al. 2018)"

    class Config(PluginConfig):
        init: float = Field(0.0, ge=-10, le=10, description="initial log-variance s_i")
        regression_form: bool = Field(
            False, description="0.5 * exp(-s) * L + 0.5 * s (Gaussian) instead of exp(-s) * L + s"
        )
        max_log_var: float = Field(10.0, gt=0, le=50, description="|s_i| is clamped to this")
        learn_unbounded: bool = Field(
            False, description="also learn weights of terms that can be negative (unsafe)"
        )

    def __init__(
        self,
        cfg: Config,
        base: dict[str, float],
        unbounded: frozenset[str] = frozenset(),
        ctx: WeightingContext | None = None,
    ) -> None:
        super().__init__(cfg, base, unbounded, ctx)
        learn_all = cfg.learn_unbounded
        self.learned = [n for n in self.base if learn_all or n not in self.unbounded]
        self.index = {n: i for i, n in enumerate(self.learned)}
        self.log_vars = nn.Parameter(torch.full((len(self.learned),), float(cfg.init)))

    def _s(self) -> Tensor:
        bound = self.cfg.max_log_var
        return self.log_vars.clamp(-bound, bound)

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        check_terms(terms, self.base, self.name)
        half = 0.5 if self.cfg.regression_form else 1.0
        s = self._s()
        total = 0.0
        for name, term in terms.items():
            i = self.index.get(name)
            if i is None:
                total = total + self.base[name] * term
            else:
                total = total + self.base[name] * half * (torch.exp(-s[i]) * term + s[i])
        return total

    def current_weights(self) -> dict[str, float]:
        half = 0.5 if self.cfg.regression_form else 1.0
        return scaled_weights(self.base, self.learned, half * torch.exp(-self._s().detach()))


@hookimpl
def mtbench_weightings() -> list[type[WeightingPlugin]]:
    return [UncertaintyWeighting]
