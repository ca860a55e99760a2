"""The spec's regularizers: penalties added to the D step, augmentations of every D input."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mtbench.api import PenaltyContext, Regularizer, Side
from mtbench.discriminator import Discriminator


@dataclass
class DInputs:
    """The D step's images: what D sees (augmented) and what penalties differentiate by.

    ``real_source``/``fake_source`` are the un-augmented images, leaves with requires_grad when
    a penalty of this step reads that side (R1: reals, R2: fakes); ``real``/``fake`` are the
    augmentation of them, built with grad so the penalty's gradient goes through it.
    """

    real: Tensor
    fake: Tensor
    real_source: Tensor
    fake_source: Tensor


class Regularizers:
    """Applies a run's regularizers in order; a run without any pays one empty loop."""

    def __init__(self, regs: dict[str, Regularizer]) -> None:
        self.regs = regs
        self.augmenters = [r for r in regs.values() if type(r).augment is not Regularizer.augment]

    def __bool__(self) -> bool:
        return bool(self.regs)

    def term_names(self) -> list[str]:
        return [f"{label}/{t}" for label, r in self.regs.items() for t in r.term_names()]

    def augment(self, images: Tensor, gen: torch.Generator) -> Tensor:
        for r in self.augmenters:
            images = r.augment(images, gen)
        return images

    def input_grads(self, step: int) -> tuple[bool, bool]:
        """Whether real and fake D inputs need requires_grad at this step."""
        active = [r for r in self.regs.values() if r.active(step)]
        return any(r.needs_real_grad for r in active), any(r.needs_fake_grad for r in active)

    def d_inputs(self, real: Tensor, fake: Tensor, gen: torch.Generator, step: int) -> DInputs:
        """Augmented real and fake D inputs; a side a penalty reads keeps the graph from its
        un-augmented source (StyleGAN2-ADA and StudioGAN differentiate R1 there)."""
        grads = self.input_grads(step)
        out = []
        for images, grad in zip((real, fake), grads):
            source = images.detach().requires_grad_(grad)
            with torch.set_grad_enabled(grad):
                out += [self.augment(source, gen), source]
        return DInputs(out[0], out[2], out[1], out[3])

    def d_terms(
        self, disc: Discriminator, real: Side, fake: Side, step: int, inputs: DInputs | None = None
    ) -> dict[str, Tensor]:
        ctx = None
        out = {}
        for label, r in self.regs.items():
            if not r.term_names():
                continue
            if not r.active(step):
                out.update(
                    {f"{label}/{t}": real.images["image"].new_zeros(()) for t in r.term_names()}
                )
                continue
            if ctx is None:
                ctx = PenaltyContext(real, fake, disc.score, disc.score_images)
                if inputs is not None:
                    ctx.real_source, ctx.fake_source = inputs.real_source, inputs.fake_source
            out.update({f"{label}/{k}": v for k, v in r.d_terms(ctx).items()})
        return out
