"""Attribute head: one classification or regression task per declared data-set target."""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import DataInfo, HeadContext, HeadPlugin, PluginConfig, Side, TargetInfo
from mtbench_plugins.layers import head_sn, maybe_sn

KINDS = ("class", "continuous")


def attribute_targets(data: DataInfo) -> dict[str, TargetInfo]:
    """The data set's targets this head can learn: class and continuous ones."""
    return {k: t for k, t in data.targets.items() if t.kind in KINDS}


class AttributeHead(HeadPlugin):
    """Auxiliary attribute tasks, the multi-task discriminator of the seed MT-CGAN (in the
    spirit of AC-GAN, Odena et al. 2017, extended to several attributes): one linear
    sub-head per target, cross-entropy for class targets and mean squared error for
    continuous ones. D learns every target on real images; G is scored on the targets its
    fakes are known to have (those fixed by the conditioning label, such as shape and
    colour of ``shapes``); the others give no G term.

    Terms, D and G: one per target, named after it.
    """

    name = "attribute"
    description = "one classification/regression sub-head per data-set target"

    class Config(PluginConfig):
        targets: list[str] | None = Field(
            None, min_length=1, description="targets to learn; None = all class/continuous ones"
        )
        spectral_norm: bool | None = Field(
            None, description="spectral norm on the linear layers; default: as the trunk"
        )

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        usable = attribute_targets(data)
        declared = ", ".join(sorted(usable)) or "none"
        if cfg.targets is None:
            if usable:
                return []
            return [f"head {cls.name!r} needs class or continuous targets; the data set has none"]
        return [
            f"head {cls.name!r}: target {name!r} is not a class or continuous target of the "
            f"data set (it declares: {declared})"
            for name in cfg.targets
            if name not in usable
        ]

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        usable = attribute_targets(ctx.data)
        names = list(usable) if cfg.targets is None else list(dict.fromkeys(cfg.targets))
        self.kinds = {n: usable[n].kind for n in names}
        self.tasks = nn.ModuleDict(
            {
                n: maybe_sn(
                    nn.Linear(ctx.feature_dim, _width(usable[n])), head_sn(cfg.spectral_norm, ctx)
                )
                for n in names
            }
        )

    def _loss(self, name: str, features: Tensor, target: Tensor) -> Tensor:
        """CE (class) or MSE (continuous) of target ``name``'s sub-head on ``features``."""
        out = self.tasks[name](features)
        if self.kinds[name] == "class":
            return F.cross_entropy(out, target.long())
        return F.mse_loss(out, target.to(out.dtype).reshape(out.shape))

    def regression_terms(self, player: str) -> set[str]:
        return {n for n, kind in self.kinds.items() if kind == "continuous"}  # MSE

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        missing = [n for n in self.tasks if n not in real.targets]
        if missing:
            raise ValueError(f"head {self.name!r}: the real batch lacks targets {missing}")
        return {n: self._loss(n, real.features, real.targets[n]) for n in self.tasks}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return {
            n: self._loss(n, fake.features, fake.targets[n])
            for n in self.tasks
            if n in fake.targets
        }


def _width(target: TargetInfo) -> int:
    return target.num_classes if target.kind == "class" else target.dim


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [AttributeHead]
