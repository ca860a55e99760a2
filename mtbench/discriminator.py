"""The discriminator: one trunk shared by N heads, each head a task with named loss terms."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mtbench.api import HeadPlugin, Side, TrunkPlugin


class Discriminator(nn.Module):
    """Runs the trunk once per batch for all heads and prefixes each head's terms."""

    def __init__(self, trunk: TrunkPlugin, heads: dict[str, HeadPlugin]) -> None:
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict(heads)
        self.uses_trunk = any(h.uses_trunk_features for h in heads.values())
        self.g_needs_real = self.uses_trunk and any(h.g_needs_real_features for h in heads.values())

    def features(self, real: Tensor, fake: Tensor) -> tuple[Tensor | None, Tensor | None]:
        """Trunk features of both sides: one pass over both unless the trunk keeps batch stats."""
        if not self.uses_trunk:
            return None, None
        if getattr(self.trunk, "has_batch_stats", False):
            return self.trunk(real), self.trunk(fake)
        both = self.trunk(torch.cat([real, fake]))
        return both[: real.shape[0]], both[real.shape[0] :]

    def fake_features(self, fake: Tensor) -> Tensor | None:
        """Trunk features of the fake batch alone (the G step)."""
        return self.trunk(fake) if self.uses_trunk else None

    def unbounded_terms(self, player: str) -> frozenset[str]:
        return frozenset(
            f"{label}/{t}"
            for label, head in self.heads.items()
            for t in head.unbounded_terms(player)
        )

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return {
            f"{label}/{k}": v
            for label, head in self.heads.items()
            for k, v in head.d_terms(real, fake).items()
        }

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return {
            f"{label}/{k}": v
            for label, head in self.heads.items()
            for k, v in head.g_terms(fake, real).items()
        }
