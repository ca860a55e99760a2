"""R1 penalty (Mescheder et al. 2018, "Which Training Methods for GANs do actually Converge?").

The gradient is taken with respect to the un-augmented real images, through the augmentation
(DiffAugment), as StyleGAN2-ADA (``training/loss.py``: ``real_img_tmp.requires_grad_`` before
``run_D`` augments) and PyTorch-StudioGAN (``src/worker.py``: ``real_images.requires_grad_``
before ``self.AUG.series_augment``, then ``losses.stylegan_cal_r1_reg(images=real_images)``) do.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import PenaltyContext, PluginConfig, Regularizer


def grad_sq_norm(score: Tensor, images: Tensor) -> Tensor:
    """Per-sample squared norm of d score / d images, kept differentiable for the D update."""
    (grad,) = torch.autograd.grad(score.sum(), images, create_graph=True)
    return grad.pow(2).flatten(1).sum(1)


class LazyConfig(PluginConfig):
    gamma: float = Field(10.0, gt=0, description="penalty weight")
    every: int = Field(1, ge=1, description="lazy regularization: every N steps, scaled by N")


class R1(Regularizer):
    """gamma/2 * E ||grad_x D(x)||^2 on real images: keeps D flat on the data manifold."""

    name: ClassVar[str] = "r1"
    description: ClassVar[str] = "R1 gradient penalty on real images (Mescheder et al. 2018)"
    needs_real_grad: ClassVar[bool] = True
    Config = LazyConfig

    def term_names(self) -> list[str]:
        return ["penalty"]

    def active(self, step: int) -> bool:
        return step % self.cfg.every == 0

    def scored(self, ctx: PenaltyContext) -> tuple[Tensor, Tensor]:
        """The score and the images it is differentiated by: the un-augmented reals."""
        return ctx.real_score, ctx.source("real")

    def d_terms(self, ctx: PenaltyContext) -> dict[str, Tensor]:
        norm = grad_sq_norm(*self.scored(ctx))
        return {"penalty": 0.5 * self.cfg.gamma * self.cfg.every * norm.mean()}


@hookimpl
def mtbench_regularizers() -> list[type[Regularizer]]:
    return [R1]
