"""Unconditional adversarial head: a linear real/fake logit on the trunk's features."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.layers import head_sn, maybe_sn, resolve_loss


class AdversarialHead(HeadPlugin):
    """The GAN discriminator's real/fake output (Goodfellow et al. 2014): linear(features) -> 1
    logit, scored by an adversarial loss family (the spec's unless named here).
    """

    name = "adversarial"
    description = "real/fake logit from a linear layer, scored by an adversarial loss family"

    class Config(PluginConfig):
        loss: str | None = Field(
            None, min_length=1, description="loss family name; None uses the spec's loss"
        )
        spectral_norm: bool | None = Field(
            None, description="spectral norm on the linear layer; default: as the trunk"
        )

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        self.linear = maybe_sn(nn.Linear(ctx.feature_dim, 1), head_sn(cfg.spectral_norm, ctx))
        self.loss = resolve_loss(cfg.loss, ctx)

    def logits(self, features: Tensor) -> Tensor:
        """Real/fake logits (B,) of trunk features (B, feature_dim)."""
        return self.linear(features).squeeze(1)

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return {"adv": self.loss.d_loss(self.logits(real.features), self.logits(fake.features))}

    def score(self, side: Side) -> Tensor:
        return self.logits(side.features)

    def regression_terms(self, player: str) -> set[str]:
        return {"adv"} if self.loss.regression else set()

    def unbounded_terms(self, player: str) -> set[str]:
        bounded = self.loss.d_bounded if player == "d" else self.loss.g_bounded
        return set() if bounded else {"adv"}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return {"adv": self.loss.g_loss(self.logits(fake.features))}


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [AdversarialHead]
