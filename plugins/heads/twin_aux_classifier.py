"""TAC-GAN twin auxiliary classifiers: an AC classifier on real data, a twin on fakes."""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.layers import head_sn, labels_of, maybe_sn


class TwinAuxClassifierHead(HeadPlugin):
    """Twin auxiliary classifiers of TAC-GAN (Gong et al. 2019, "Twin auxiliary classifiers
    GAN", NeurIPS): classifier C learns p(y|x) on real data only, its twin C_mi learns the
    generator's q(y|x) on fakes. G minimises CE(C(fake), y) - CE(C_mi(fake), y), which removes
    AC-GAN's bias towards easily classified (low-diversity) samples.

    D terms: ``ac_real`` (C on real) and ``twin_fake`` (C_mi on fakes).
    G terms: ``ac_fake`` (C on fakes) and ``neg_twin_fake`` (minus C_mi's CE on fakes).
    """

    name = "twin_aux_classifier"
    description = "TAC-GAN: AC classifier on real plus a twin classifier on fakes"
    needs_class_labels = True

    class Config(PluginConfig):
        spectral_norm: bool | None = Field(
            None, description="spectral norm on both linear layers; default: as the trunk"
        )

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        k, sn = ctx.data.num_classes, head_sn(cfg.spectral_norm, ctx)
        self.classifier = maybe_sn(nn.Linear(ctx.feature_dim, k), sn)
        self.twin = maybe_sn(nn.Linear(ctx.feature_dim, k), sn)

    def unbounded_terms(self, player: Literal["d", "g"]) -> set[str]:
        return {"neg_twin_fake"} if player == "g" else set()

    def _ce(self, layer: nn.Module, side: Side) -> Tensor:
        """Mean cross-entropy of ``layer``'s class logits against the side's labels."""
        return F.cross_entropy(layer(side.features), labels_of(side, self.name))

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return {"ac_real": self._ce(self.classifier, real), "twin_fake": self._ce(self.twin, fake)}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return {
            "ac_fake": self._ce(self.classifier, fake),
            "neg_twin_fake": -self._ce(self.twin, fake),
        }


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [TwinAuxClassifierHead]
