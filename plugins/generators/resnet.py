"""Residual generator of SNGAN / BigGAN with a shared class embedding and conditional BN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import DataInfo, GeneratorContext, GeneratorPlugin, PluginConfig
from mtbench_plugins.generators.dcgan import LAYOUT
from mtbench_plugins.layers import (
    ConditionalBatchNorm2d,
    apply_spectral_norm,
    conditioning,
    size_problems,
)


class UpBlock(nn.Module):
    """CBN-ReLU-up-conv3-CBN-ReLU-conv3 plus an up-conv1 shortcut; doubles the side."""

    def __init__(self, cin: int, cout: int, embed_dim: int) -> None:
        super().__init__()
        self.norm1 = ConditionalBatchNorm2d(cin, embed_dim)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = ConditionalBatchNorm2d(cout, embed_dim)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor, e: Tensor | None) -> Tensor:
        h = F.interpolate(F.relu(self.norm1(x, e)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), e)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class ResNetGenerator(GeneratorPlugin):
    """ResNet generator of SNGAN (Miyato et al. 2018, "Spectral normalization for generative
    adversarial networks") and BigGAN (Brock et al. 2019, "Large scale GAN training for high
    fidelity natural image synthesis"): a linear map of z to a 4x4 (7x7 for 28x28) map,
    upsampling residual blocks and BN-ReLU-conv-tanh. One class embedding, shared by all
    blocks as in BigGAN, feeds the conditional batch norm of every block (Miyato & Koyama
    2018); unconditional data gets plain batch norm.
    """

    name = "resnet"
    description = "SNGAN/BigGAN residual generator, shared class embedding feeding conditional BN"

    class Config(PluginConfig):
        z_dim: int = Field(128, ge=1, le=1024, description="noise width (before latent codes)")
        width: int = Field(64, ge=4, le=512, description="channels of the last block")
        embed_dim: int = Field(128, ge=1, le=1024, description="width of the class embedding")
        spectral_norm: bool = Field(False, description="spectral norm on every layer (BigGAN)")

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        return size_problems("resnet generator", LAYOUT, data.size)

    def __init__(self, cfg: Config, ctx: GeneratorContext) -> None:
        super().__init__(cfg, ctx)
        data = ctx.data
        self.z_dim = cfg.z_dim
        self.in_dim = cfg.z_dim + ctx.code_dim
        self.start, ups = LAYOUT[data.size]
        chans = [cfg.width * 2 ** (ups - i) for i in range(ups + 1)]  # e.g. 8w, 4w, 2w, w
        embed_dim = cfg.embed_dim if data.num_classes > 0 else 0
        self.embed = nn.Embedding(data.num_classes, embed_dim) if embed_dim else None
        self.project = nn.Linear(self.in_dim, chans[0] * self.start**2)
        self.blocks = nn.ModuleList(
            UpBlock(cin, cout, embed_dim) for cin, cout in zip(chans, chans[1:])
        )
        self.final_norm = nn.BatchNorm2d(chans[-1])
        self.to_image = nn.Conv2d(chans[-1], data.channels, 3, 1, 1)
        self._init_weights()
        if cfg.spectral_norm:
            for part in (self.project, self.blocks, self.to_image):
                apply_spectral_norm(part)

    def _init_weights(self) -> None:
        """Xavier-uniform weights and zero biases, as in the SNGAN and BigGAN code."""
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, z: Tensor, labels: Tensor | None) -> dict[str, Tensor]:
        e = conditioning("resnet", self.embed, z, self.in_dim, labels)
        h = self.project(z).view(z.shape[0], -1, self.start, self.start)
        for block in self.blocks:
            h = block(h, e)
        return {"image": torch.tanh(self.to_image(F.relu(self.final_norm(h))))}


@hookimpl
def mtbench_generators() -> list[type[GeneratorPlugin]]:
    return [ResNetGenerator]
