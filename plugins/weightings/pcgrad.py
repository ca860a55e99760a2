"""PCGrad: per-term gradients on the shared parameters, conflicting parts projected away."""

from __future__ import annotations

from collections.abc import Callable

import torch
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import PluginConfig, WeightingPlugin
from mtbench_plugins.weightings.common import (
    SteppedWeighting,
    add_grad,
    check_terms,
    flat_grads,
    pairwise_cosines,
)


def project_conflicts(grads: Tensor, gen: torch.Generator) -> Tensor:
    """PCGrad's surgery on per-term gradients (T, P); returns the summed projected gradient.

    Each g_i is projected, in a random order of the other terms, onto the normal plane of every
    original g_j it conflicts with (g_i . g_j < 0): g_i -= (g_i . g_j) / |g_j|^2 g_j.
    """
    out = torch.zeros_like(grads[0])
    sq = (grads * grads).sum(dim=1).clamp_min(1e-30)  # a zero g_j has dot 0: no projection
    for i in range(grads.shape[0]):
        g = grads[i]
        for j in torch.randperm(grads.shape[0], generator=gen).tolist():
            if j != i:  # no branch on values: no device sync
                g = g - (g @ grads[j]).clamp(max=0) / sq[j] * grads[j]
        out = out + g
    return out


class PCGradWeighting(SteppedWeighting):
    """PCGrad (Yu, Kumar, Gupta, Levine, Hausman & Finn 2020, "Gradient surgery for multi-task
    learning"). Each term's gradient of base_i * L_i on the ``shared`` parameters (D: the
    trunk; G: the generator) is projected away from the other terms' gradients it conflicts
    with, and the projections are summed; other parameters (heads, weighting) get the plain
    sum. The random orders come from a generator seeded by (``seed``, step), both
    checkpointed, so runs reproduce. Costs one backward pass per term. Regularizer penalties
    (``ctx.fixed``) are no task: their gradients are added unprojected and take no part in
    the surgery, so a penalty's configured strength holds.

    ``combine`` (for logging or callers without gradients) is the plain weighted sum;
    ``diagnostics()`` gives the cosine between every pair of term gradients on the shared
    parameters, before surgery.
    """

    name = "pcgrad"
    description = "PCGrad: project away conflicting per-term gradients on shared parameters"

    class Config(PluginConfig):
        seed: int = Field(0, ge=0, description="seed of the random projection orders")

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        check_terms(terms, self.base, self.name)
        return sum(self.base[n] * t for n, t in terms.items())

    def backward(
        self,
        terms: dict[str, Tensor],
        inputs: list[Tensor],
        shared: list[Tensor],
        scale: Callable[[Tensor], Tensor],
    ) -> None:
        check_terms(terms, self.base, self.name)
        params = [p for p in inputs if p.requires_grad]
        is_shared = {id(p) for p in shared}
        at = [i for i, p in enumerate(params) if id(p) in is_shared]
        names = list(terms)
        per_term = [
            flat_grads(scale(self.base[n] * terms[n]), params, retain=k < len(names) - 1)
            for k, n in enumerate(names)
        ]
        for i, p in enumerate(params):  # not shared: the plain sum
            if id(p) not in is_shared:
                add_grad(p, sum(g[i] for g in per_term))
        if not at:
            return
        flat = torch.stack([torch.cat([g[i].flatten() for i in at]) for g in per_term])
        self.ctx.dist.mean_([flat])  # surgery on the global batch's per-term gradients
        self._diag = pairwise_cosines(names, flat)
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.steps)
        self.steps += 1
        tasks = [k for k, n in enumerate(names) if n not in self.ctx.fixed]
        surgery = project_conflicts(flat[tasks], gen) if tasks else torch.zeros_like(flat[0])
        for k, n in enumerate(names):  # regularizer penalties: neither projected nor projected on
            if n in self.ctx.fixed:
                surgery = surgery + flat[k]
        offset = 0
        for i in at:
            n = params[i].numel()
            add_grad(params[i], surgery[offset : offset + n].view_as(params[i]))
            offset += n


@hookimpl
def mtbench_weightings() -> list[type[WeightingPlugin]]:
    return [PCGradWeighting]
