"""BigGAN generator: hierarchical latents, a shared class embedding into conditional BN."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import DataInfo, GeneratorContext, GeneratorPlugin, PluginConfig
from mtbench_plugins.blocks import SelfAttention, orthogonal_init
from mtbench_plugins.layers import apply_spectral_norm, conditioning, size_problems
from mtbench_plugins.trunks.biggan import ATTENTION, attention_index, attention_problems

BOTTOM = 4  # side of the first feature map
# image size -> channel multipliers of the block inputs and outputs (each block doubles)
ARCH: dict[int, tuple[list[int], list[int]]] = {
    32: ([4, 4, 4], [4, 4, 4]),
    64: ([16, 8, 4, 2], [8, 4, 2, 1]),
    128: ([16, 16, 8, 4, 2], [16, 8, 4, 2, 1]),
}


class ClassBatchNorm2d(nn.Module):
    """BigGAN's conditional batch norm: gain 1 + W_g a and bias W_b a from the block's affine
    input a (shared class embedding and a chunk of z), linear maps without bias."""

    def __init__(self, channels: int, affine_dim: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.to_gain = nn.Linear(affine_dim, channels, bias=False)
        self.to_bias = nn.Linear(affine_dim, channels, bias=False)

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        gain = 1.0 + self.to_gain(a)
        return self.bn(x) * gain[:, :, None, None] + self.to_bias(a)[:, :, None, None]


class GBlock(nn.Module):
    """cBN-ReLU-up-conv3-cBN-ReLU-conv3 plus an up-conv1 shortcut; doubles the side."""

    def __init__(self, cin: int, cout: int, affine_dim: int) -> None:
        super().__init__()
        self.norm1 = ClassBatchNorm2d(cin, affine_dim)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = ClassBatchNorm2d(cout, affine_dim)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor, a: Tensor) -> Tensor:
        h = F.interpolate(F.relu(self.norm1(x, a)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h), a)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class BigGANGenerator(GeneratorPlugin):
    """The BigGAN generator (Brock et al. 2019, "Large scale GAN training for high fidelity
    natural image synthesis", sec. 3 and appendix B, tables 4 and 6): z is split into one
    chunk per block plus one for the first linear layer (hierarchical latent space); a class
    embedding shared by all blocks is concatenated with each block's chunk and linearly
    mapped to the gains and biases of that block's conditional batch norms; residual
    upsampling blocks from 4x4, one self-attention block (Zhang et al. 2019) after the block
    of side ``attention`` (16 at 32 px as StudioGAN, 64 at 128 px as the paper; 0: none),
    then BN-ReLU-conv3-tanh. Orthogonal initialisation, spectral norm on every layer but the
    shared embedding. Widths per resolution as PyTorch-StudioGAN ``src/models/big_resnet.py``
    (32: three blocks of 4 x ``width``; 64 and 128: 16 x ``width`` halving to ``width``).
    Latent codes and conditions the core appends to z join the first chunk. Deliberate
    differences: no truncation trick and no cross-replica (synchronised) batch norm.
    """

    name = "biggan"
    description = "BigGAN generator: hierarchical z, shared class embedding, cBN, attention"

    class Config(PluginConfig):
        z_dim: int = Field(120, ge=1, le=1024, description="noise width, split across blocks")
        width: int = Field(64, ge=8, le=1024, description="base channels (ch)")
        shared_dim: int = Field(128, ge=1, le=1024, description="shared class embedding width")
        attention: int | None = Field(
            None, ge=0, description="side of the self-attention block; None: the paper's; 0: none"
        )
        spectral_norm: bool = Field(True, description="spectral norm on every layer (BigGAN)")

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        wrong = size_problems("biggan generator", ARCH, data.size)
        if wrong:
            return wrong
        chunks = len(ARCH[data.size][0]) + 1
        if cfg.z_dim % chunks:
            return [f"z_dim {cfg.z_dim} must split into {chunks} equal chunks at {data.size} px"]
        sides = [BOTTOM * 2 ** (i + 1) for i in range(chunks - 1)]
        return attention_problems("biggan generator", cfg.attention, sides)

    def __init__(self, cfg: Config, ctx: GeneratorContext) -> None:
        super().__init__(cfg, ctx)
        data = ctx.data
        ins, outs = ([cfg.width * m for m in ms] for ms in ARCH[data.size])
        self.z_dim = cfg.z_dim
        self.in_dim = cfg.z_dim + ctx.code_dim
        self.chunk = cfg.z_dim // (len(ins) + 1)
        shared = cfg.shared_dim if data.num_classes > 0 else 0
        self.shared = nn.Embedding(data.num_classes, shared) if shared else None
        self.project = nn.Linear(self.chunk + ctx.code_dim, ins[0] * BOTTOM**2)
        affine = self.chunk + shared
        self.blocks = nn.ModuleList(GBlock(i, o, affine) for i, o in zip(ins, outs))
        sides = [BOTTOM * 2 ** (i + 1) for i in range(len(ins))]
        self.attend_after = attention_index(cfg.attention, ATTENTION[data.size], sides)
        at = self.attend_after
        self.attention = SelfAttention(outs[at]) if at is not None else None
        self.final_norm = nn.BatchNorm2d(outs[-1])
        self.to_image = nn.Conv2d(outs[-1], data.channels, 3, 1, 1)
        orthogonal_init(self)
        if cfg.spectral_norm:
            for part in (self.project, self.blocks, self.attention, self.to_image):
                if part is not None:
                    apply_spectral_norm(part)

    def forward(self, z: Tensor, labels: Tensor | None) -> dict[str, Tensor]:
        e = conditioning("biggan", self.shared, z, self.in_dim, labels)
        chunks = z[:, : self.z_dim].split(self.chunk, dim=1)
        first = torch.cat([chunks[0], z[:, self.z_dim :]], dim=1)
        h = self.project(first).view(z.shape[0], -1, BOTTOM, BOTTOM)
        for i, (block, zc) in enumerate(zip(self.blocks, chunks[1:])):
            h = block(h, zc if e is None else torch.cat([e, zc], dim=1))
            if i == self.attend_after:
                h = self.attention(h)
        return {"image": torch.tanh(self.to_image(F.relu(self.final_norm(h))))}


@hookimpl
def mtbench_generators() -> list[type[GeneratorPlugin]]:
    return [BigGANGenerator]
