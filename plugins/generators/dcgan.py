"""Conditional DCGAN generator with class-conditional batch norm."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import DataInfo, GeneratorContext, GeneratorPlugin, PluginConfig
from mtbench_plugins.layers import (
    ConditionalBatchNorm2d,
    conditioning,
    dcgan_init,
    size_problems,
)

# image size -> (side of the first feature map, number of stride-2 upsamplings)
LAYOUT: dict[int, tuple[int, int]] = {16: (4, 2), 28: (7, 2), 32: (4, 3), 64: (4, 4)}


class DCGANGenerator(GeneratorPlugin):
    """DCGAN generator (Radford et al. 2016, "Unsupervised representation learning with deep
    convolutional GANs") with conditional batch norm on a shared class embedding
    (de Vries et al. 2017; Miyato & Koyama 2018). Unconditional data gets plain batch norm.
    """

    name = "dcgan"
    description = "conditional DCGAN generator (transposed convs, class-conditional batch norm)"

    class Config(PluginConfig):
        z_dim: int = Field(64, ge=1, le=1024, description="noise width (before latent codes)")
        width: int = Field(64, ge=4, le=512, description="channels of the last hidden layer")
        embed_dim: int = Field(64, ge=1, le=1024, description="width of the class embedding")

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        return size_problems("dcgan generator", LAYOUT, data.size)

    def __init__(self, cfg: Config, ctx: GeneratorContext) -> None:
        super().__init__(cfg, ctx)
        data = ctx.data
        self.z_dim = cfg.z_dim
        self.in_dim = cfg.z_dim + ctx.code_dim
        self.start, ups = LAYOUT[data.size]
        chans = [cfg.width * 2 ** (ups - 1 - i) for i in range(ups)]  # e.g. 8w, 4w, 2w, w
        embed_dim = cfg.embed_dim if data.num_classes > 0 else 0
        self.embed = nn.Embedding(data.num_classes, embed_dim) if embed_dim else None
        self.project = nn.Linear(self.in_dim, chans[0] * self.start**2, bias=False)
        self.norms = nn.ModuleList(ConditionalBatchNorm2d(c, embed_dim) for c in chans)
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
            for cin, cout in zip(chans, chans[1:])
        )
        self.to_image = nn.ConvTranspose2d(chans[-1], data.channels, 4, 2, 1)
        dcgan_init(self)

    def forward(self, z: Tensor, labels: Tensor | None) -> dict[str, Tensor]:
        e = conditioning("dcgan", self.embed, z, self.in_dim, labels)
        h = self.project(z).view(z.shape[0], -1, self.start, self.start)
        h = F.relu(self.norms[0](h, e))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = F.relu(norm(up(h), e))
        return {"image": torch.tanh(self.to_image(h))}


@hookimpl
def mtbench_generators() -> list[type[GeneratorPlugin]]:
    return [DCGANGenerator]
