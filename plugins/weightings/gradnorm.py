"""GradNorm: learned term weights that balance gradient norms on the last shared layer."""

from __future__ import annotations

from collections.abc import Callable

import torch
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import PluginConfig, WeightingContext, WeightingPlugin
from mtbench_plugins.weightings.common import (
    SteppedWeighting,
    check_terms,
    flat_grads,
    pairwise_cosines,
    scaled_weights,
)

BETAS = (0.9, 0.999)
EPS = 1e-8
MIN_WEIGHT = 1e-3


def last_shared_layer(shared: list[Tensor]) -> Tensor | None:
    """The last trainable parameter with ndim > 1 in ``shared``: the layer GradNorm watches.

    For D that is the trunk's last weight matrix (DCGAN: the feature layer); for G the last
    weight tensor of ``GeneratorPlugin.shared_parameters()`` (DCGAN: the output convolution;
    ``multi_output``: the shared trunk's last upsampling, which every branch's terms reach).
    """
    for p in reversed(shared):
        if p.ndim > 1 and p.requires_grad:
            return p
    return None


class GradNormWeighting(SteppedWeighting):
    """GradNorm (Chen, Badrinarayanan, Lee & Rabinovich 2018, "GradNorm: gradient normalization
    for adaptive loss balancing in deep multitask networks"). Each adapted term has a weight
    w_i; the player's loss is sum base_i * w_i * L_i. Every step, with G_i = w_i ||d L_i / d W||
    on the last shared layer W, r_i = (L_i / L_i(0)) / mean_j (L_j / L_j(0)) and the mean G
    held constant, w follows d/dw sum_i |G_i - mean(G) * r_i^alpha| with its own Adam (``lr``,
    betas 0.9/0.999), is floored at 1e-3 and renormalised to sum to the number of adapted
    terms. The weights and their Adam state are buffers: the player's optimizer never sees
    them and checkpoints restore them. Terms that can be negative (``unbounded``) keep w = 1,
    as r_i needs positive losses. Terms with no gradient on W this step (e.g. the members of
    a separate-discriminator ensemble in the D step) stay out of the balance (mean G, mean r,
    renormalisation) and keep their weights; without a shared layer all weights stay put.

    ``diagnostics()`` gives the cosine between the terms' gradients on W and their norms.

    Under torchrun the per-term gradients on W and the losses are averaged across ranks
    before the update, so every rank computes the weights of the global batch.
    """

    name = "gradnorm"
    description = "GradNorm: weights balancing per-term gradient norms on the last shared layer"

    class Config(PluginConfig):
        alpha: float = Field(1.5, ge=0, le=10, description="restoring-force strength")
        lr: float = Field(0.025, gt=0, le=1, description="Adam learning rate of the weights")

    def __init__(
        self,
        cfg: Config,
        base: dict[str, float],
        unbounded: frozenset[str] = frozenset(),
        ctx: WeightingContext | None = None,
    ) -> None:
        super().__init__(cfg, base, unbounded, ctx)
        n = len(self.adapted)
        for buf in ("w", "m", "v", "initial"):
            self.register_buffer(buf, torch.ones(n) if buf == "w" else torch.zeros(n))

    def combine(self, terms: dict[str, Tensor]) -> Tensor:
        check_terms(terms, self.base, self.name)
        w = dict(zip(self.adapted, self.w.clone()))
        return sum(self.base[n] * (w[n] * t if n in w else t) for n, t in terms.items())

    def backward(
        self,
        terms: dict[str, Tensor],
        inputs: list[Tensor],
        shared: list[Tensor],
        scale: Callable[[Tensor], Tensor],
    ) -> None:
        total = self.combine(terms)
        layer = last_shared_layer(shared)
        if layer is not None:
            names = list(terms)
            grads = torch.stack(
                [flat_grads(terms[n], [layer], retain=True)[0].flatten() for n in names]
            )
            self.ctx.dist.mean_([grads])  # the global batch's per-term gradients
            norms = grads.norm(dim=1)
            keys, cos = pairwise_cosines(names, grads)
            self._diag = (keys + [f"gnorm/{n}" for n in names], torch.cat([cos, norms]))
            if self.training and self.adapted:
                at = [names.index(n) for n in self.adapted]
                losses = torch.stack([terms[n].detach().float() for n in self.adapted])
                self.ctx.dist.mean_([losses])
                self.update(losses.to(self.w), norms[at].to(self.w))
        scale(total).backward(inputs=[p for p in inputs if p.requires_grad])

    @torch.no_grad()
    def update(self, losses: Tensor, norms: Tensor) -> None:
        """One GradNorm step on w from the adapted terms' losses and unweighted grad norms."""
        if self.steps == 0:
            self.initial.copy_(losses.clamp_min(1e-12))
        self.steps += 1
        active = (norms > 0).to(self.w.dtype)  # terms that reach W this step; masks, no sync
        count = active.sum().clamp_min(1.0)
        g = self.w * norms
        rel = losses / self.initial
        rel_mean = ((rel * active).sum() / count).clamp_min(1e-12)
        target = (g * active).sum() / count * (rel / rel_mean) ** self.cfg.alpha
        old = self.w.clone()
        self.adam(torch.sign(g - target) * norms)
        self.w.clamp_(min=MIN_WEIGHT)
        self.w.copy_(torch.where(active > 0, self.w * count / (self.w * active).sum(), old))

    def adam(self, grad: Tensor) -> None:
        b1, b2 = BETAS
        self.m.mul_(b1).add_(grad, alpha=1 - b1)
        self.v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        m_hat = self.m / (1 - b1**self.steps)
        v_hat = self.v / (1 - b2**self.steps)
        self.w.sub_(self.cfg.lr * m_hat / (v_hat.sqrt() + EPS))

    def current_weights(self) -> dict[str, float]:
        return scaled_weights(self.base, self.adapted, self.w)


@hookimpl
def mtbench_weightings() -> list[type[WeightingPlugin]]:
    return [GradNormWeighting]
