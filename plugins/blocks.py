"""Residual blocks and self-attention of the SNGAN, ProjGAN and BigGAN networks.

Shared by the ``resnet`` and ``biggan`` trunks and the ``biggan`` generator. References:
Miyato et al. 2018 ("Spectral normalization for generative adversarial networks", appendix
ResNet), Miyato & Koyama 2018 (projection discriminator), Brock et al. 2019 ("Large scale
GAN training for high fidelity natural image synthesis", appendix B), Zhang et al. 2019
("Self-attention generative adversarial networks"); layouts as in PyTorch-StudioGAN
``src/models/resnet.py`` and ``src/models/big_resnet.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DBlock(nn.Module):
    """Discriminator residual block: ReLU-conv3-ReLU-conv3 (then 2x2 average pooling when
    ``down``), plus a conv1 shortcut (then pooling) when the shape changes."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if (cin != cout or down) else None

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(F.relu(x))))
        sc = x if self.shortcut is None else self.shortcut(x)
        if self.down:
            h, sc = F.avg_pool2d(h, 2), F.avg_pool2d(sc, 2)
        return h + sc


class OptimizedDBlock(nn.Module):
    """The first discriminator block: conv3-ReLU-conv3-pool, shortcut pool-conv1 (no ReLU on
    the image)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1)

    def forward(self, x: Tensor) -> Tensor:
        h = F.avg_pool2d(self.conv2(F.relu(self.conv1(x))), 2)
        return h + self.shortcut(F.avg_pool2d(x, 2))


class SelfAttention(nn.Module):
    """SAGAN's non-local block (Zhang et al. 2019) in BigGAN's form: 1x1 theta/phi (C/8) and
    g (C/2), phi and g max-pooled 2x2, softmax attention, a 1x1 output conv, added to the
    input scaled by a learned gain that starts at 0."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.theta = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.phi = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.g = nn.Conv2d(channels, channels // 2, 1, bias=False)
        self.out = nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.gain = nn.Parameter(torch.zeros(()))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        theta = self.theta(x).flatten(2)  # (B, C/8, HW)
        phi = F.max_pool2d(self.phi(x), 2).flatten(2)  # (B, C/8, HW/4)
        attn = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, HW, HW/4)
        g = F.max_pool2d(self.g(x), 2).flatten(2)  # (B, C/2, HW/4)
        o = (g @ attn.transpose(1, 2)).view(b, c // 2, h, w)
        return x + self.gain * self.out(o)


def orthogonal_init(module: nn.Module) -> None:
    """BigGAN's initialisation: orthogonal weights of every conv, linear and embedding, zero
    biases. Call before spectral norm (a parametrized weight cannot be written in place)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            nn.init.orthogonal_(m.weight)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)


def xavier_init(module: nn.Module) -> None:
    """SNGAN's initialisation: Xavier-uniform conv and linear weights, zero biases."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def d_blocks(
    channels: int, widths: list[int], downs: list[bool], attention_after: int | None
) -> nn.Sequential:
    """The discriminator's blocks, applied in turn: an optimized first block, then
    ``DBlock``s; a ``SelfAttention`` after block ``attention_after`` (0-based) when set."""
    blocks: list[nn.Module] = [OptimizedDBlock(channels, widths[0])]
    for i, (cin, cout, down) in enumerate(zip(widths, widths[1:], downs[1:]), start=1):
        if attention_after == i - 1:
            blocks.append(SelfAttention(cin))
        blocks.append(DBlock(cin, cout, down))
    if attention_after == len(widths) - 1:
        blocks.append(SelfAttention(widths[-1]))
    return nn.Sequential(*blocks)


def block_sides(size: int, downs: list[bool]) -> list[int]:
    """The side of each block's output for an input of side ``size``."""
    sides, side = [], size
    for down in downs:
        side = side // 2 if down else side
        sides.append(side)
    return sides
