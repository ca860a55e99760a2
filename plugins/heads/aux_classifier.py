"""AC-GAN auxiliary classifier head: class logits on the trunk's features, cross-entropy."""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.layers import head_sn, labels_of, maybe_sn


class AuxClassifierHead(HeadPlugin):
    """Auxiliary classifier of AC-GAN (Odena et al. 2017, "Conditional image synthesis with
    auxiliary classifier GANs"): D learns to classify real (and fake) images; G is rewarded
    when its fakes are classified as their conditioning class.
    """

    name = "aux_classifier"
    description = "AC-GAN auxiliary classifier: cross-entropy on class logits"
    needs_class_labels = True

    class Config(PluginConfig):
        d_on_fake: bool = Field(True, description="also train D's classifier on fakes (AC-GAN)")
        spectral_norm: bool | None = Field(
            None, description="spectral norm on the linear layer; default: as the trunk"
        )

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        self.classifier = maybe_sn(
            nn.Linear(ctx.feature_dim, ctx.data.num_classes), head_sn(cfg.spectral_norm, ctx)
        )

    def cross_entropy(self, side: Side) -> Tensor:
        """Mean cross-entropy of the side's class logits against its labels."""
        return F.cross_entropy(self.classifier(side.features), labels_of(side, self.name))

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        terms = {"ce_real": self.cross_entropy(real)}
        if self.cfg.d_on_fake:
            terms["ce_fake"] = self.cross_entropy(fake)
        return terms

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return {"ce": self.cross_entropy(fake)}


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [AuxClassifierHead]
