"""BigGAN discriminator backbone: residual blocks with self-attention (32, 64 and 128 px)."""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import DataInfo, PluginConfig, TrunkPlugin
from mtbench_plugins.blocks import block_sides, d_blocks, orthogonal_init
from mtbench_plugins.layers import apply_spectral_norm, size_problems

# image size -> (channel multipliers of the blocks, which blocks halve the side)
ARCH: dict[int, tuple[list[int], list[bool]]] = {
    32: ([4, 4, 4, 4], [True, True, False, False]),
    64: ([1, 2, 4, 8, 16], [True, True, True, True, False]),
    128: ([1, 2, 4, 8, 16, 16], [True, True, True, True, True, False]),
}
ATTENTION = {32: 16, 64: 32, 128: 64}  # default side of the self-attention block


def attention_problems(network: str, side: int | None, sides: list[int]) -> list[str]:
    """The spec problem for an attention side no block produces; none if it is one (or 0)."""
    if side in (None, 0) or side in sides:
        return []
    return [f"{network}: attention side {side} is not a block side ({sorted(set(sides))}); 0: none"]


def attention_index(side: int | None, default: int, sides: list[int]) -> int | None:
    """Index of the first block whose output has the attention side; None for no attention."""
    side = default if side is None else side
    return sides.index(side) if side else None


class BigGANTrunk(TrunkPlugin):
    """The BigGAN discriminator (Brock et al. 2019, "Large scale GAN training for high
    fidelity natural image synthesis", appendix B, tables 4 and 7): an optimized first block,
    residual blocks (ReLU, 3x3 convs, average pooling, conv1 shortcuts), one self-attention
    (non-local) block (Zhang et al. 2019) after the block of side ``attention`` (paper and
    StudioGAN: 16 at 32 px, 64 at 128 px; 0: none), a final ReLU and global sum pooling;
    spectral norm on every layer and orthogonal initialisation. Widths per resolution as
    PyTorch-StudioGAN ``src/models/big_resnet.py`` (32: four blocks of 4 x ``width``; 64 and
    128: width x 1, 2, 4, 8, 16 (, 16)). The class-conditional output (projection, as in the
    paper) is a head on these features.
    """

    name = "biggan"
    description = "BigGAN residual discriminator with self-attention and sum pooling (32/64/128)"
    has_batch_stats = False

    class Config(PluginConfig):
        width: int = Field(64, ge=8, le=1024, description="base channels (ch)")
        attention: int | None = Field(
            None, ge=0, description="side of the self-attention block; None: the paper's; 0: none"
        )
        spectral_norm: bool = Field(True, description="spectral norm on every layer")

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        wrong = size_problems("biggan trunk", ARCH, data.size)
        if wrong:
            return wrong
        sides = block_sides(data.size, ARCH[data.size][1])
        return attention_problems("biggan trunk", cfg.attention, sides)

    def __init__(self, cfg: Config, data: DataInfo) -> None:
        super().__init__(cfg, data)
        mults, downs = ARCH[data.size]
        widths = [cfg.width * m for m in mults]
        sides = block_sides(data.size, downs)
        at = attention_index(cfg.attention, ATTENTION[data.size], sides)
        self.blocks = d_blocks(data.channels, widths, downs, at)
        self.feature_dim = widths[-1]
        orthogonal_init(self)
        if cfg.spectral_norm:
            apply_spectral_norm(self)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling


@hookimpl
def mtbench_trunks() -> list[type[TrunkPlugin]]:
    return [BigGANTrunk]
