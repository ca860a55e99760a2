"""Generator inputs: Gaussian noise, heads' latent codes (InfoGAN-style), and conditions.

Conditions are data-set targets the spec's ``condition_on`` names (class targets one-hot,
continuous ones as values): fakes are conditioned on values drawn from the real data, so
heads and evaluators can check them like the primary label.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from mtbench.api import LatentCode, TargetInfo


@dataclass
class GenInput:
    """One batch of generator input and what it encodes."""

    z: Tensor  # (n, z_dim + code width + condition width)
    labels: Tensor | None
    codes: dict[str, Tensor]
    conditions: dict[str, Tensor]


def code_width(codes: dict[str, LatentCode]) -> int:
    return sum(c.dim for c in codes.values())


def condition_width(conditions: dict[str, TargetInfo]) -> int:
    return sum(t.num_classes if t.kind == "class" else t.dim for t in conditions.values())


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


def encode_conditions(values: dict[str, Tensor], infos: dict[str, TargetInfo]) -> list[Tensor]:
    """Generator-input columns of condition values: one-hot classes, continuous as they are."""
    out = []
    for name, info in infos.items():
        v = values[name]
        if info.kind == "class":
            out.append(F.one_hot(v.long(), info.num_classes).float())
        else:
            out.append(v.float().reshape(v.shape[0], -1))
    return out


def with_conditions(z: Tensor, values: dict[str, Tensor], infos: dict[str, TargetInfo]) -> Tensor:
    return torch.cat([z, *encode_conditions(values, infos)], dim=1) if infos else z


def generator_input(
    n: int,
    z_dim: int,
    codes: dict[str, LatentCode],
    conditions: dict[str, TargetInfo],
    source,  # mtbench.data.BatchSource
    gen: torch.Generator,
    labels: Tensor | None = None,
    condition_values: dict[str, Tensor] | None = None,
) -> GenInput:
    """Everything one generator call takes; labels and conditions are drawn unless given."""
    z, code_values = sample_latents(n, z_dim, codes, gen, source.device)
    if labels is None:
        labels = source.fake_labels(n, gen)
    if condition_values is None:
        condition_values = source.sample_conditions(n, gen, list(conditions))
    return GenInput(
        with_conditions(z, condition_values, conditions), labels, code_values, condition_values
    )
