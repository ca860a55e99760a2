"""Projection discriminator head: unconditional logit plus <embed(y), features>."""

from __future__ import annotations

from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.layers import head_sn, labels_of, maybe_sn, resolve_loss


class ProjectionHead(HeadPlugin):
    """Projection discriminator (Miyato & Koyama 2018, "cGANs with projection discriminator"):
    logit = psi(phi(x)) + <embed(y), phi(x)>, scored by an adversarial loss family.
    """

    name = "projection"
    description = "class-conditional real/fake logit by projecting a class embedding"
    needs_class_labels = True

    class Config(PluginConfig):
        loss: str | None = Field(
            None, min_length=1, description="loss family name; None uses the spec's loss"
        )
        spectral_norm: bool | None = Field(
            None, description="spectral norm on linear and embedding; default: as the trunk"
        )

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        self.psi = nn.Linear(ctx.feature_dim, 1)
        self.embed = nn.Embedding(ctx.data.num_classes, ctx.feature_dim)
        nn.init.xavier_uniform_(self.embed.weight)
        maybe_sn(self.psi, head_sn(cfg.spectral_norm, ctx))
        maybe_sn(self.embed, head_sn(cfg.spectral_norm, ctx))
        self.loss = resolve_loss(cfg.loss, ctx)

    def logits(self, side: Side) -> Tensor:
        """Class-conditional real/fake logits (B,) of the side's features and labels."""
        phi = side.features
        projection = (self.embed(labels_of(side, self.name)) * phi).sum(1)
        return self.psi(phi).squeeze(1) + projection

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return {"adv": self.loss.d_loss(self.logits(real), self.logits(fake))}

    def score(self, side: Side) -> Tensor:
        return self.logits(side)

    def regression_terms(self, player: str) -> set[str]:
        return {"adv"} if self.loss.regression else set()

    def unbounded_terms(self, player: str) -> set[str]:
        bounded = self.loss.d_bounded if player == "d" else self.loss.g_bounded
        return set() if bounded else {"adv"}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return {"adv": self.loss.g_loss(self.logits(fake))}


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [ProjectionHead]
