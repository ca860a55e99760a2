"""SNGAN / ProjGAN residual discriminator backbone (32, 64 and 128 px)."""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import DataInfo, PluginConfig, TrunkPlugin
from mtbench_plugins.blocks import d_blocks, xavier_init
from mtbench_plugins.layers import apply_spectral_norm, size_problems

# image size -> (channel multipliers of the blocks, which blocks halve the side)
ARCH: dict[int, tuple[list[int], list[bool]]] = {
    32: ([1, 1, 1, 1], [True, True, False, False]),
    64: ([1, 2, 4, 8, 16], [True, True, True, True, False]),
    128: ([1, 2, 4, 8, 16, 16], [True, True, True, True, True, False]),
}


class ResNetTrunk(TrunkPlugin):
    """The residual discriminator of SNGAN (Miyato et al. 2018, "Spectral normalization for
    generative adversarial networks", appendix B.4, CIFAR-10 ResNet: 128 channels) and the
    projection discriminator (Miyato & Koyama 2018, ImageNet 64/128 layouts): an optimized
    first block, downsampling residual blocks (ReLU, 3x3 convs, 2x2 average pooling, conv1
    shortcuts), a final ReLU and global sum pooling; spectral norm on every layer. Layouts
    per resolution as PyTorch-StudioGAN ``src/models/resnet.py`` (32: four blocks of
    ``width``, the first two downsampling; 64 and 128: width x 1, 2, 4, 8, 16 (, 16)).
    Features are the pooled channels (``feature_dim`` = the last block's width); heads put
    their linear layers on them. Xavier-uniform initialisation as the SNGAN code. No batch
    norm, so real and fake share one pass.
    """

    name = "resnet"
    description = "SNGAN/ProjGAN residual discriminator with global sum pooling (32/64/128)"
    has_batch_stats = False

    class Config(PluginConfig):
        width: int = Field(128, ge=1, le=1024, description="channels of the first block")
        spectral_norm: bool = Field(True, description="spectral norm on every conv")

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        return size_problems("resnet trunk", ARCH, data.size)

    def __init__(self, cfg: Config, data: DataInfo) -> None:
        super().__init__(cfg, data)
        mults, downs = ARCH[data.size]
        widths = [cfg.width * m for m in mults]
        self.blocks = d_blocks(data.channels, widths, downs, None)
        self.feature_dim = widths[-1]
        xavier_init(self)
        if cfg.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling


@hookimpl
def mtbench_trunks() -> list[type[TrunkPlugin]]:
    return [ResNetTrunk]
