"""ContraGAN's conditional contrastive (2C) loss on projected features and class proxies."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.layers import ProxyEmbedding, head_sn, labels_of, pair_masks


def contrastive_2c(embed: Tensor, proxy: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """Mean 2C loss of unit embeddings (B, E) with their class proxies (B, E).

    For sample i with similarity s_ij = <l_i, l_j> / t and s_ip = <l_i, e(y_i)> / t:
    -log( (exp s_ip + sum_{j != i, y_j = y_i} exp s_ij) / (exp s_ip + sum_{j != i} exp s_ij) ).
    """
    same, _ = pair_masks(labels)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    sim = embed @ embed.T / temperature
    to_proxy = (embed * proxy).sum(1, keepdim=True) / temperature
    positives = torch.cat([to_proxy, sim.masked_fill(~same, float("-inf"))], dim=1)
    everyone = torch.cat([to_proxy, sim.masked_fill(eye, float("-inf"))], dim=1)
    return (everyone.logsumexp(1) - positives.logsumexp(1)).mean()


class Contrastive2CHead(HeadPlugin):
    """Conditional contrastive loss of ContraGAN (Kang & Park 2020, "ContraGAN: contrastive
    learning for conditional image generation", NeurIPS): pulls each sample's embedding
    towards its class proxy and towards other samples of its class, away from the rest.
    As in the paper's Algorithm 1, D minimises it on real images, G on fakes. Defaults follow
    PyTorch-StudioGAN's ``src/configs/CIFAR10/ContraGAN.yaml`` (the authors' reference code):
    d_embed_dim 512, temperature 1.0, with its ``cond_lambda: 1.0`` as this head's spec weight.
    The loss needs many same-class pairs per batch to pull classes apart, so at short
    budgets and small batches its conditional accuracy lags AC/projection heads.

    D term: ``2c_real``. G term: ``2c_fake``.
    """

    name = "contrastive_2c"
    description = "ContraGAN conditional contrastive (2C) loss with class proxies"
    needs_class_labels = True

    class Config(PluginConfig):
        embed_dim: int = Field(512, ge=1, le=4096, description="width of the embedding")
        temperature: float = Field(1.0, gt=0.0, le=100.0, description="softmax temperature t")
        spectral_norm: bool | None = Field(
            None, description="spectral norm on projection and proxies; default: as the trunk"
        )

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        self.embedding = ProxyEmbedding(
            ctx.feature_dim, ctx.data.num_classes, cfg.embed_dim, head_sn(cfg.spectral_norm, ctx)
        )

    def loss(self, side: Side) -> Tensor:
        """The 2C loss of one side's features and labels."""
        labels = labels_of(side, self.name)
        embed, proxy = self.embedding(side.features, labels)
        return contrastive_2c(embed, proxy, labels, self.cfg.temperature)

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return {"2c_real": self.loss(real)}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return {"2c_fake": self.loss(fake)}


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [Contrastive2CHead]
