"""The discriminator: one trunk shared by N heads, each head a task with named loss terms."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor, nn

from mtbench.api import HeadPlugin, Side, TrunkPlugin


class Discriminator(nn.Module):
    """Runs the trunk once per batch for all heads and prefixes each head's terms."""

    def __init__(
        self, trunk: TrunkPlugin, heads: dict[str, HeadPlugin], code_owner: dict[str, str]
    ) -> None:
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict(heads)
        self.uses_trunk = any(h.uses_trunk_features for h in heads.values())
        self.g_needs_real = self.uses_trunk and any(h.g_needs_real_features for h in heads.values())
        # "<label>/<code>" -> label: each head sees its own latent codes, unprefixed
        self.code_owner = code_owner

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

    def _own(self, label: str, side: Side) -> Side:
        if not side.codes:
            return side
        codes = {
            k.split("/", 1)[1]: v for k, v in side.codes.items() if self.code_owner[k] == label
        }
        return replace(side, codes=codes)

    def head_terms(self, player: str, real: Side, fake: Side) -> dict[str, dict[str, Tensor]]:
        """Each head's own terms of ``player`` ("d" or "g"), by label, unprefixed."""
        if player == "d":
            return {
                label: head.d_terms(real, self._own(label, fake))
                for label, head in self.heads.items()
            }
        return {
            label: head.g_terms(self._own(label, fake), real) for label, head in self.heads.items()
        }

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return prefixed(self.head_terms("d", real, fake))

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return prefixed(self.head_terms("g", real, fake))

    def score(self, side: Side) -> Tensor | None:
        """Sum of the heads' real/fake logits (for gradient penalties); None if no head has one."""
        scores = [s for h in self.heads.values() if (s := h.score(side)) is not None]
        return torch.stack(scores).sum(0) if scores else None

    def score_images(self, images: Tensor, labels: Tensor | None) -> Tensor:
        """Trunk + heads' scores on new images (WGAN-GP's interpolates)."""
        side = Side({"image": images}, labels, {}, self.fake_features(images))
        return self.score(side)

    def regression_terms(self, player: str) -> frozenset[str]:
        """``label/term`` of every head's regression-loss terms of ``player``."""
        return frozenset(
            f"{label}/{t}"
            for label, head in self.heads.items()
            for t in head.regression_terms(player)
        )

    def unbounded_terms(self, player: str) -> frozenset[str]:
        return frozenset(
            f"{label}/{t}"
            for label, head in self.heads.items()
            for t in head.unbounded_terms(player)
        )


def prefixed(by_head: dict[str, dict[str, Tensor]]) -> dict[str, Tensor]:
    """``label/term`` -> value: the names the weighting and the steps table use."""
    return {f"{label}/{k}": v for label, terms in by_head.items() for k, v in terms.items()}
