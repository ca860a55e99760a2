"""R2 penalty (Mescheder et al. 2018): the R1 form on generated images."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from mtbench import hookimpl
from mtbench.api import PenaltyContext, Regularizer
from mtbench_plugins.regularizers.r1 import R1


class R2(R1):
    """gamma/2 * E ||grad_x D(G(z))||^2 on fake images, x before augmentation (as R1)."""

    name: ClassVar[str] = "r2"
    description: ClassVar[str] = "R2 gradient penalty on generated images (Mescheder et al. 2018)"
    needs_real_grad: ClassVar[bool] = False
    needs_fake_grad: ClassVar[bool] = True

    def scored(self, ctx: PenaltyContext) -> tuple[Tensor, Tensor]:
        return ctx.fake_score, ctx.source("fake")


@hookimpl
def mtbench_regularizers() -> list[type[Regularizer]]:
    return [R2]
