"""Reconstruction head: a small decoder reads an image target off the trunk's features."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import DataInfo, HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.layers import head_sn, maybe_sn

SEED_SIZE = 8  # the decoder starts at most this wide and doubles up to the target's size


def target_shape(target: str, data: DataInfo) -> tuple[int, int, int] | None:
    """(C, H, W) of ``target``: the input image or a declared image target; None if neither."""
    if target == "image":
        return (data.channels, data.size, data.size)
    info = data.targets.get(target)
    return info.shape if info is not None and info.kind == "image" else None


def image_targets(data: DataInfo) -> list[str]:
    return ["image"] + sorted(k for k, t in data.targets.items() if t.kind == "image")


class Decoder(nn.Module):
    """Features (B, F) -> images (B, C, H, W) in [-1, 1]: linear to a small map, then
    (nearest 2x upsample, 3x3 conv, LeakyReLU) blocks, resized to (H, W) when not a power-of-2
    multiple, a 3x3 conv to C channels and tanh."""

    def __init__(self, feature_dim: int, shape: tuple[int, int, int], width: int) -> None:
        super().__init__()
        c, h, w = shape
        self.shape, self.width = shape, width
        self.seed, self.ups = max(h, w), 0
        while self.seed > SEED_SIZE:
            self.seed, self.ups = -(-self.seed // 2), self.ups + 1
        self.linear = nn.Linear(feature_dim, width * self.seed * self.seed)
        blocks: list[nn.Module] = []
        for _ in range(self.ups):
            blocks += [nn.Upsample(scale_factor=2), nn.Conv2d(width, width, 3, padding=1)]
            blocks.append(nn.LeakyReLU(0.2))
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Conv2d(width, c, 3, padding=1)

    def forward(self, features: Tensor) -> Tensor:
        x = F.leaky_relu(self.linear(features), 0.2)
        x = self.blocks(x.view(-1, self.width, self.seed, self.seed))
        size = self.shape[1:]
        if tuple(x.shape[2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return self.out(x).tanh()


class ReconstructionHead(HeadPlugin):
    """Reconstruction/regression task of the seed MT-CGAN discriminator, scored by an L1 (as
    pix2pix, Isola et al. 2017, "Image-to-image translation with conditional adversarial
    networks", whose large L1 weight the spec's ``weight`` sets) or L2 loss: a decoder on the
    trunk's features predicts an image target, the input itself (autoencoding) or a paired
    target such as ``image_2x`` or ``edges``.

    D term ``rec_real``: decoder(real features) against the real target.
    G term ``rec_fake`` (only when ``output`` names an output the generator emits): that
    output against decoder(fake features), detached, so the generator's extra output must
    agree with what D reads off its main image.
    """

    name = "reconstruction"
    description = "decoder from features to an image target, L1/L2 (pix2pix-style weight)"

    class Config(PluginConfig):
        target: str = Field("image", min_length=1, description='"image" or a declared image target')
        norm: Literal["l1", "l2"] = Field("l1", description="distance: mean absolute or squared")
        output: str | None = Field(
            None, min_length=1, description="generator output held to the decoder's reading"
        )
        width: int = Field(32, ge=1, le=1024, description="decoder channels")
        spectral_norm: bool | None = Field(
            None, description="spectral norm on the decoder; default: as the trunk"
        )

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        if target_shape(cfg.target, data) is not None:
            return []
        return [
            f"head {cls.name!r}: target {cfg.target!r} is not an image target of the data set "
            f"(it declares: {', '.join(image_targets(data))})"
        ]

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        shape = target_shape(cfg.target, ctx.data)
        self.decoder = maybe_sn(
            Decoder(ctx.feature_dim, shape, cfg.width), head_sn(cfg.spectral_norm, ctx)
        )

    def distance(self, a: Tensor, b: Tensor) -> Tensor:
        return F.l1_loss(a, b) if self.cfg.norm == "l1" else F.mse_loss(a, b)

    def regression_terms(self, player: str) -> set[str]:
        return {"rec_real" if player == "d" else "rec_fake"}

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        target = real.images.get(self.cfg.target)
        if target is None:
            raise ValueError(
                f"head {self.name!r}: the real batch has no image {self.cfg.target!r} "
                f"(it has: {sorted(real.images)})"
            )
        return {"rec_real": self.distance(self.decoder(real.features), target)}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        output = self.cfg.output
        if output is None or output not in fake.images:
            return {}
        image = fake.images[output]
        with torch.no_grad():
            reading = self.decoder(fake.features)
        if image.shape != reading.shape:
            raise ValueError(
                f"head {self.name!r}: generator output {output!r} has shape "
                f"{tuple(image.shape[1:])}, target {self.cfg.target!r} {tuple(reading.shape[1:])}"
            )
        return {"rec_fake": self.distance(image, reading)}


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [ReconstructionHead]
