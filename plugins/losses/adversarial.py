"""Adversarial loss families on raw discriminator logits: ns, hinge, wasserstein, lsgan."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import LossFamily, PluginConfig


class NonSaturatingLoss(LossFamily):
    """Non-saturating GAN loss, BCE on logits (Goodfellow et al. 2014, "Generative adversarial
    nets"): D minimises softplus(-r) + softplus(f); G minimises softplus(-f).
    """

    name = "ns"
    description = "non-saturating GAN loss (binary cross-entropy on logits)"

    class Config(PluginConfig):
        """No options."""

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def g_loss(self, fake: Tensor) -> Tensor:
        return F.softplus(-fake).mean()


class HingeLoss(LossFamily):
    """Hinge GAN loss (Lim & Ye 2017, "Geometric GAN"): D minimises relu(1 - r) + relu(1 + f);
    G minimises -f.
    """

    g_bounded: ClassVar[bool] = False

    name = "hinge"
    description = "hinge GAN loss (geometric GAN)"

    class Config(PluginConfig):
        """No options."""

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def g_loss(self, fake: Tensor) -> Tensor:
        return -fake.mean()


class WassersteinLoss(LossFamily):
    """Wasserstein GAN loss (Arjovsky et al. 2017, "Wasserstein GAN"): D minimises f - r; G
    minimises -f. Needs a Lipschitz critic (spectral norm or a gradient penalty).
    """

    d_bounded: ClassVar[bool] = False
    g_bounded: ClassVar[bool] = False

    name = "wasserstein"
    description = "Wasserstein GAN critic loss (needs a Lipschitz constraint)"

    class Config(PluginConfig):
        """No options."""

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return fake.mean() - real.mean()

    def g_loss(self, fake: Tensor) -> Tensor:
        return -fake.mean()


class LeastSquaresLoss(LossFamily):
    """Least-squares GAN loss (Mao et al. 2017, "Least squares generative adversarial
    networks"), targets 1 for real and 0 for fake: D 0.5((r-1)^2 + f^2); G 0.5(f-1)^2.
    """

    regression: ClassVar[bool] = True  # a Gaussian likelihood of the targets

    name = "lsgan"
    description = "least-squares GAN loss (real target 1, fake target 0)"

    class Config(PluginConfig):
        """No options."""

    def d_loss(self, real: Tensor, fake: Tensor) -> Tensor:
        return 0.5 * ((real - 1.0).pow(2).mean() + fake.pow(2).mean())

    def g_loss(self, fake: Tensor) -> Tensor:
        return 0.5 * (fake - 1.0).pow(2).mean()


@hookimpl
def mtbench_losses() -> list[type[LossFamily]]:
    return [NonSaturatingLoss, HingeLoss, WassersteinLoss, LeastSquaresLoss]
