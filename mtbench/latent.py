"""Generator inputs: Gaussian noise plus the latent codes heads ask for (InfoGAN-style)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from mtbench.api import LatentCode


def code_width(codes: dict[str, LatentCode]) -> int:
    return sum(c.dim for c in codes.values())


def sample_latents(
    n: int,
    z_dim: int,
    codes: dict[str, LatentCode],
    gen: torch.Generator,
    device: torch.device,
) -> tuple[Tensor, dict[str, Tensor]]:
    """z of width ``z_dim + code_width(codes)`` and each code's value (class index or vector)."""
    z = torch.randn(n, z_dim, device=device, generator=gen)
    if not codes:
        return z, {}
    values, parts = {}, [z]
    for name, code in codes.items():
        if code.kind == "categorical":
            v = torch.randint(code.dim, (n,), device=device, generator=gen)
            parts.append(F.one_hot(v, code.dim).float())
        else:
            v = torch.rand(n, code.dim, device=device, generator=gen).mul_(2).sub_(1)
            parts.append(v)
        values[name] = v
    return torch.cat(parts, dim=1), values
