"""Feature matching (Salimans et al. 2016, "Improved Techniques for Training GANs") as a head.

The generator matches the mean trunk features of real data; the head adds no D term. A
complete third-party mtbench plugin: a class and one hook, registered in pyproject.toml.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import HeadPlugin, PluginConfig, Side


class FeatureMatching(HeadPlugin):
    """G minimises || mean real features - mean fake features ||^2 on the shared trunk."""

    name: ClassVar[str] = "feature_matching"
    description: ClassVar[str] = "feature matching on trunk features (Salimans et al. 2016)"
    g_needs_real_features: ClassVar[bool] = True

    class Config(PluginConfig):
        scale: float = Field(1.0, gt=0, description="multiplies the squared distance")

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return {}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        gap = real.features.mean(0) - fake.features.mean(0)
        return {"fm": self.cfg.scale * gap.pow(2).sum()}


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [FeatureMatching]
