"""Uncertainty weighting: learned per-term log-variances (homoscedastic task uncertainty)."""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import PluginConfig, WeightingContext, WeightingPlugin
from mtbench_plugins.weightings.common import check_terms, scaled_weights


class UncertaintyWeighting(WeightingPlugin):
    """Kendall, Gal & Cipolla 2018, "Multi-task learning using uncertainty to weigh losses"
    (CVPR; eqs. 7 and 10): each term i learns s_i = log sigma_i^2, trained by the player's
    optimizer. A regression term (squared/absolute error, Gaussian NLL, LSGAN: the core's
    ``ctx.regression``) contributes base_i * (1/(2 sigma^2) L_i + log sigma) =
    base_i * (0.5 exp(-s_i) L_i + 0.5 s_i); a classification term (cross-entropy, the other
    adversarial losses) base_i * (1/sigma^2 L_i + log sigma) = base_i * (exp(-s_i) L_i + 0.5 s_i).
    ``form`` forces one form for every term. ``current_weights`` logs the effective weight
    (base_i exp(-s_i), halved for regression terms). A term with base 0 stays off.

    The log-variances are kept in [-``max_log_var``, ``max_log_var``] by projecting the
    parameter back before each use, not by clamping it in the graph: a clamp would zero its
    gradient and freeze it at the bound (a hinge D loss that reaches 0 pushes s_i to -inf);
    projected, it moves back as soon as its gradient says so. Terms that can be negative
    (``unbounded``: hinge G, Wasserstein) would diverge the same way; unless
    ``learn_unbounded`` they keep their base weight, and regularizer penalties (``ctx.fixed``)
    always do. Deliberate difference: the paper weights tasks of one network; here each
    player's named loss terms are the tasks.
    """

    name = "uncertainty"
    description = "learned log-variance per loss term (Kendall et al. 2018)"

    class Config(PluginConfig):
        init: float = Field(0.0, ge=-10, le=10, description="initial log-variance s_i")
        form: Literal["by_kind", "classification", "regression"] = Field(
            "by_kind",
            description="by_kind: 0.5 exp(-s) L + 0.5 s for regression terms, exp(-s) L + 0.5 s "
            "for classification terms; or one form for all",
        )
        max_log_var: float = Field(
            10.0, gt=0, le=50, description="|s_i| is projected back to this before each use"
        )
        learn_unbounded: bool = Field(
            False, description="also learn weights of terms that can be negative (unsafe)"
        )

        @model_validator(mode="before")
        @classmethod
        def _renamed(cls, data: object) -> object:
            """Specs from before the two forms: say what replaced ``regression_form``."""
            if isinstance(data, dict) and "regression_form" in data:
                raise ValueError(
                    "regression_form was replaced by form: set form to regression (was true), "
                    "classification (was false) or by_kind (each term's own kind, the default)"
                )
            return data

    def __init__(
        self,
        cfg: Config,
        base: dict[str, float],
        unbounded: frozenset[str] = frozenset(),
        ctx: WeightingContext | None = None,
    ) -> None:
        super().__init__(cfg, base, unbounded, ctx)
        keep = self.ctx.fixed | (frozenset() if cfg.learn_unbounded else self.unbounded)
        self.learned = [n for n in self.base if n not in keep]
        self.index = {n: i for i, n in enumerate(self.learned)}
        self.log_vars = nn.Parameter(torch.full((len(self.learned),), float(cfg.init)))
        halves = torch.tensor([self._half(n) for n in self.learned])
        self.register_buffer("halves", halves, persistent=False)

    def _half(self, name: str) -> float:
        """0.5 for a regression term (1 / (2 sigma^2)), 1 for a classification term."""
        form = self.cfg.form
        if form == "by_kind":
            form = "regression" if name in self.ctx.regression else "classification"
        return 0.5 if form == "regression" else 1.0

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        check_terms(terms, self.base, self.name)
        with torch.no_grad():  # projection, not an in-graph clamp: the gradient stays live
            self.log_vars.clamp_(-self.cfg.max_log_var, self.cfg.max_log_var)
        s = self.log_vars
        total = 0.0
        for name, term in terms.items():
            i = self.index.get(name)
            if i is None:
                total = total + self.base[name] * term
            else:
                half = self.halves[i]
                total = total + self.base[name] * (half * torch.exp(-s[i]) * term + 0.5 * s[i])
        return total

    def current_weights(self) -> dict[str, float]:
        return scaled_weights(
            self.base, self.learned, self.halves * torch.exp(-self.log_vars.detach())
        )


@hookimpl
def mtbench_weightings() -> list[type[WeightingPlugin]]:
    return [UncertaintyWeighting]
