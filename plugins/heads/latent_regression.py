"""InfoGAN latent regression: recover the generator's latent codes from the trunk's features."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import DataInfo, HeadContext, HeadPlugin, LatentCode, PluginConfig, Side
from mtbench_plugins.layers import head_sn, maybe_sn

LOG_2PI = math.log(2 * math.pi)
LOGVAR_RANGE = (-8.0, 8.0)  # keeps the Gaussian NLL finite when Q grows over-confident


def gaussian_nll(x: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """Negative log-likelihood of x (B, D) under N(mean, exp(logvar)): summed over D, batch mean."""
    nll = 0.5 * (LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar))
    return nll.sum(1).mean()


def own_code(codes: dict[str, Tensor], name: str) -> Tensor:
    """This head's code ``name`` (the core passes each head its own codes, unprefixed)."""
    if name not in codes:
        raise ValueError(
            f"head 'latent_regression' expects a latent code {name!r} in the fake batch, "
            f"found {sorted(codes)}"
        )
    return codes[name]


class LatentRegressionHead(HeadPlugin):
    """Q network of InfoGAN (Chen et al. 2016, "InfoGAN: interpretable representation learning
    by information maximizing generative adversarial nets", NeurIPS): the generator gets a
    categorical code (one-hot) and continuous codes (uniform in [-1, 1]) besides its noise,
    and Q recovers them from the fakes' features; categorical codes by cross-entropy,
    continuous ones by the NLL of a factored Gaussian with predicted mean and log-variance.
    Both players minimise the same terms (the variational lower bound of the mutual
    information), so D's trunk and Q train with G.

    D and G terms: ``cat`` and ``cont`` (those whose code is enabled), on fakes only.
    """

    name = "latent_regression"
    description = "InfoGAN: recover categorical and continuous latent codes from fakes"

    class Config(PluginConfig):
        categorical: int = Field(10, ge=0, le=1000, description="categories of the code; 0=none")
        continuous: int = Field(2, ge=0, le=256, description="continuous code width; 0=none")
        hidden: int = Field(128, ge=0, le=4096, description="Q's hidden width; 0 = linear Q")
        spectral_norm: bool | None = Field(
            None, description="spectral norm on Q's linear layers; default: as the trunk"
        )

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        if cfg.categorical == 0 and cfg.continuous == 0:
            return [f"head {cls.name!r} needs a code: set categorical or continuous above 0"]
        return []

    @classmethod
    def latent_codes(cls, cfg: PluginConfig) -> dict[str, LatentCode]:
        codes = {}
        if cfg.categorical:
            codes["cat"] = LatentCode("categorical", cfg.categorical)
        if cfg.continuous:
            codes["cont"] = LatentCode("continuous", cfg.continuous)
        return codes

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        width = cfg.categorical + 2 * cfg.continuous
        if cfg.hidden:
            layers = [
                nn.Linear(ctx.feature_dim, cfg.hidden),
                nn.LeakyReLU(0.1),
                nn.Linear(cfg.hidden, width),
            ]
        else:
            layers = [nn.Linear(ctx.feature_dim, width)]
        self.q = maybe_sn(nn.Sequential(*layers), head_sn(cfg.spectral_norm, ctx))

    def regression_terms(self, player: Literal["d", "g"]) -> set[str]:
        return {"cont"} if self.cfg.continuous else set()  # a Gaussian NLL

    def unbounded_terms(self, player: Literal["d", "g"]) -> set[str]:
        return {"cont"} if self.cfg.continuous else set()  # a Gaussian NLL can go below zero

    def terms(self, fake: Side) -> dict[str, Tensor]:
        """Cross-entropy of the categorical code and Gaussian NLL of the continuous codes."""
        c = self.cfg
        out = self.q(fake.features)
        terms = {}
        if c.categorical:
            terms["cat"] = F.cross_entropy(out[:, : c.categorical], own_code(fake.codes, "cat"))
        if c.continuous:
            mean, logvar = out[:, c.categorical :].chunk(2, dim=1)
            x = own_code(fake.codes, "cont")
            terms["cont"] = gaussian_nll(x, mean, logvar.clamp(*LOGVAR_RANGE))
        return terms

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return self.terms(fake)

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return self.terms(fake)


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [LatentRegressionHead]
