"""What the built-in weightings share: term checks, per-term gradients, a checkpointed step
count and gradient diagnostics. Not a plugin module (no hook): imported by the ones that are."""

from __future__ import annotations

import torch
from torch import Tensor

from mtbench.api import PluginConfig, WeightingContext, WeightingPlugin


def check_terms(terms: dict[str, Tensor], base: dict[str, float], weighting: str) -> None:
    """A clear error for an empty step or a term the weighting holds no weight for."""
    if not terms:
        raise ValueError(f"{weighting} weighting got no loss terms to combine")
    missing = sorted(set(terms) - set(base))
    if missing:
        raise KeyError(
            f"{weighting} weighting has no weight for term(s) {missing}; "
            f"weighted terms are {sorted(base)}"
        )


def scaled_weights(base: dict[str, float], names: list[str], factors: Tensor) -> dict[str, float]:
    """The base weights, those of ``names`` multiplied by ``factors``: for ``current_weights``."""
    out = dict(base)
    for name, f in zip(names, factors.tolist()):
        out[name] = base[name] * f
    return out


def flat_grads(loss: Tensor, params: list[Tensor], retain: bool) -> list[Tensor]:
    """d loss / d params, zeros for parameters ``loss`` does not reach; no ``.grad`` touched."""
    if not loss.requires_grad:
        return [torch.zeros_like(p) for p in params]
    grads = torch.autograd.grad(loss, params, retain_graph=retain, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def pairwise_cosines(names: list[str], vectors: Tensor) -> tuple[list[str], Tensor]:
    """Cosine between every pair of rows of ``vectors`` (T, P), keyed ``cos/<a>|<b>``.

    A pair with a zero vector has no direction: its cosine is NaN.
    """
    norms = vectors.norm(dim=1)
    cos = (vectors @ vectors.t()) / (norms[:, None] * norms[None, :])
    i, j = torch.triu_indices(len(names), len(names), offset=1).tolist()
    keys = [f"cos/{names[a]}|{names[b]}" for a, b in zip(i, j)]
    return keys, cos[i, j]


def add_grad(param: Tensor, grad: Tensor) -> None:
    """Accumulate ``grad`` into ``param.grad`` as ``backward`` would."""
    param.grad = grad.detach().clone() if param.grad is None else param.grad + grad


class SteppedWeighting(WeightingPlugin):
    """A weighting whose schedule depends on its own count of adaptation steps (``steps``,
    besides the core's ``step``), checkpointed so a resumed run goes on with the same weights;
    gradient-based ones keep diagnostics in ``_diag`` as one tensor (converted only when the
    steps table asks, so logging costs no per-step sync). ``adapted`` lists the terms whose
    weights may move: those bounded below that are no regularizer penalty (``ctx.fixed``)."""

    def __init__(
        self,
        cfg: PluginConfig,
        base: dict[str, float],
        unbounded: frozenset[str] = frozenset(),
        ctx: WeightingContext | None = None,
    ) -> None:
        super().__init__(cfg, base, unbounded, ctx)
        keep = self.unbounded | self.ctx.fixed  # negative-capable terms and penalties
        self.adapted = [n for n in self.base if n not in keep]
        self.steps = 0
        self._diag: tuple[list[str], Tensor] = ([], torch.zeros(0))

    def diagnostics(self) -> dict[str, float]:
        keys, values = self._diag
        return dict(zip(keys, values.tolist()))

    def get_extra_state(self) -> dict:
        return {**super().get_extra_state(), "steps": self.steps}

    def set_extra_state(self, state: dict) -> None:
        super().set_extra_state(state)
        self.steps = int(state["steps"])
