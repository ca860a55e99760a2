"""WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs")."""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import PenaltyContext, PluginConfig, Regularizer


class GradientPenalty(Regularizer):
    """lambda * E (||grad D(x_hat)|| - 1)^2 at random interpolates x_hat of real and fake."""

    name: ClassVar[str] = "gradient_penalty"
    description: ClassVar[str] = "WGAN-GP penalty on real/fake interpolates (Gulrajani 2017)"

    class Config(PluginConfig):
        weight: float = Field(10.0, gt=0, description="lambda")
        target: float = Field(1.0, gt=0, description="gradient norm the penalty pulls towards")

    def term_names(self) -> list[str]:
        return ["penalty"]

    def d_terms(self, ctx: PenaltyContext) -> dict[str, Tensor]:
        real = ctx.real.images["image"].detach()
        fake = ctx.fake.images["image"].detach()
        eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
        mix = torch.lerp(fake, real, eps).requires_grad_(True)
        score = ctx.score(mix, ctx.real.labels)
        (grad,) = torch.autograd.grad(score.sum(), mix, create_graph=True)
        gap = grad.flatten(1).norm(dim=1) - self.cfg.target
        return {"penalty": self.cfg.weight * gap.pow(2).mean()}


@hookimpl
def mtbench_regularizers() -> list[type[Regularizer]]:
    return [GradientPenalty]
