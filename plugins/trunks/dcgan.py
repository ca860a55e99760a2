"""DCGAN discriminator backbone without batch norm."""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import DataInfo, PluginConfig, TrunkPlugin
from mtbench_plugins.layers import apply_spectral_norm, dcgan_init, size_problems

# image size -> number of stride-2 convolutions (16 -> 4, 28 -> 7, 32 -> 4, 64 -> 4)
DOWNS: dict[int, int] = {16: 2, 28: 2, 32: 3, 64: 4}


class DCGANTrunk(TrunkPlugin):
    """DCGAN discriminator (Radford et al. 2016): strided 4x4 convs with LeakyReLU(0.2), then a
    linear layer to the features. No batch norm, so real and fake may share one batch;
    optional spectral norm (Miyato et al. 2018) on every conv and linear.
    """

    name = "dcgan"
    description = "DCGAN discriminator backbone: strided convs + LeakyReLU, no batch norm"
    has_batch_stats = False

    class Config(PluginConfig):
        width: int = Field(64, ge=4, le=512, description="channels of the first conv")
        spectral_norm: bool = Field(False, description="spectral norm on every conv and linear")
        feature_dim: int = Field(256, ge=1, le=4096, description="width of the output features")

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        return size_problems("dcgan trunk", DOWNS, data.size)

    def __init__(self, cfg: Config, data: DataInfo) -> None:
        super().__init__(cfg, data)
        n = DOWNS[data.size]
        chans = [data.channels] + [cfg.width * 2**i for i in range(n)]
        layers: list[nn.Module] = []
        for cin, cout in zip(chans, chans[1:]):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2)]
        self.convs = nn.Sequential(*layers)
        side = data.size // 2**n
        self.fc = nn.Linear(chans[-1] * side * side, cfg.feature_dim)
        self.feature_dim = cfg.feature_dim
        dcgan_init(self)
        if cfg.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(self.fc(self.convs(x).flatten(1)), 0.2)


@hookimpl
def mtbench_trunks() -> list[type[TrunkPlugin]]:
    return [DCGANTrunk]
