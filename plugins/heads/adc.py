"""ADC-GAN head: a 2K-way classifier over {real class k, fake class k}."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.layers import head_sn, labels_of, maybe_sn


class ADCHead(HeadPlugin):
    """Auxiliary discriminative classifier of ADC-GAN (Hou et al. 2022, "Conditional GANs with
    auxiliary discriminative classifier", ICML): one classifier over 2K classes, real-k = k and
    fake-k = K + k. D learns to tell both the class and the source; G is pulled towards
    real-k and pushed away from fake-k, so it learns the joint p(x, y) without AC-GAN's
    low-entropy bias.

    D terms: ``ce_real`` (real as real-k) and ``ce_fake`` (fake as fake-k).
    G terms: ``ce_real_class`` (fake as real-k) and ``neg_ce_fake_class`` (minus fake as fake-k).
    """

    name = "adc"
    description = "ADC-GAN: 2K-way classifier over real-class and fake-class"
    needs_class_labels = True

    class Config(PluginConfig):
        spectral_norm: bool | None = Field(
            None, description="spectral norm on the linear layer; default: as the trunk"
        )

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        self.k = ctx.data.num_classes
        self.classifier = maybe_sn(
            nn.Linear(ctx.feature_dim, 2 * self.k), head_sn(cfg.spectral_norm, ctx)
        )

    def unbounded_terms(self, player: Literal["d", "g"]) -> set[str]:
        return {"neg_ce_fake_class"} if player == "g" else set()

    def _ce(self, logits: Tensor, labels: Tensor, as_fake: bool) -> Tensor:
        """Mean CE of 2K logits against real-k (``as_fake`` False) or fake-k."""
        return F.cross_entropy(logits, labels + (self.k if as_fake else 0))

    def _logits(self, side: Side) -> tuple[Tensor, Tensor]:
        return self.classifier(side.features), labels_of(side, self.name)

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return {
            "ce_real": self._ce(*self._logits(real), as_fake=False),
            "ce_fake": self._ce(*self._logits(fake), as_fake=True),
        }

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        logits, labels = self._logits(fake)
        return {
            "ce_real_class": self._ce(logits, labels, as_fake=False),
            "neg_ce_fake_class": -self._ce(logits, labels, as_fake=True),
        }


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [ADCHead]
