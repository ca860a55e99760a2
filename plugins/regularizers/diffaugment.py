"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random, differentiable colour, translation and cutout transforms are applied to
every image D sees, real and fake, in both steps, so G is trained through them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import PluginConfig, Regularizer


def _uniform(x: Tensor, gen: torch.Generator) -> Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, generator=gen, dtype=x.dtype)


def colour(x: Tensor, gen: torch.Generator) -> Tensor:
    """Random brightness, saturation and contrast, per sample."""
    x = x + (_uniform(x, gen) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_uniform(x, gen) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_uniform(x, gen) + 0.5) + mean


def translation(x: Tensor, gen: torch.Generator, ratio: float) -> Tensor:
    """Shift each sample by up to ``ratio`` of its size, filling with zeros."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device, generator=gen)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device, generator=gen)
    rows = (torch.arange(h, device=x.device).view(1, h, 1) + dy).clamp(-1, h) + 1
    cols = (torch.arange(w, device=x.device).view(1, 1, w) + dx).clamp(-1, w) + 1
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    batch = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)


def cutout(x: Tensor, gen: torch.Generator, ratio: float) -> Tensor:
    """Zero one square of side ``ratio`` of the image at a random place in each sample."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device, generator=gen)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device, generator=gen)
    ys = torch.arange(h, device=x.device).view(1, h, 1) - (cy - ch // 2)
    xs = torch.arange(w, device=x.device).view(1, 1, w) - (cx - cw // 2)
    hole = (ys >= 0) & (ys < ch) & (xs >= 0) & (xs < cw)
    return x * (~hole).unsqueeze(1).to(x.dtype)


class DiffAugment(Regularizer):
    """Differentiable augmentation of real and fake D inputs (Zhao et al. 2020)."""

    name: ClassVar[str] = "diffaugment"
    description: ClassVar[str] = "differentiable colour/translation/cutout (Zhao et al. 2020)"

    class Config(PluginConfig):
        policy: list[Literal["colour", "translation", "cutout"]] = Field(
            ["colour", "translation", "cutout"], min_length=1
        )
        translation_ratio: float = Field(0.125, gt=0, lt=1)
        cutout_ratio: float = Field(0.5, gt=0, lt=1)

    def augment(self, images: Tensor, gen: torch.Generator) -> Tensor:
        for op in self.cfg.policy:
            if op == "colour":
                images = colour(images, gen)
            elif op == "translation":
                images = translation(images, gen, self.cfg.translation_ratio)
            else:
                images = cutout(images, gen, self.cfg.cutout_ratio)
        return images


@hookimpl
def mtbench_regularizers() -> list[type[Regularizer]]:
    return [DiffAugment]
