"""ReACGAN's data-to-data cross-entropy (D2D-CE) with margins on projected features."""

from __future__ import annotations

import torch
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.layers import ProxyEmbedding, labels_of, pair_masks


def d2d_ce(
    embed: Tensor,
    proxy: Tensor,
    labels: Tensor,
    temperature: float,
    pos_margin: float,
    neg_margin: float,
) -> Tensor:
    """Mean D2D-CE of unit embeddings (B, E) with their class proxies (B, E).

    With a_i = min(<f_i, v_yi> - m_p, 0) / t and b_ij = max(<f_i, f_j> - m_n, 0) / t:
    -log( exp a_i / (exp a_i + sum_{j: y_j != y_i} exp b_ij) ). Same-class samples are
    left out of the denominator (no false negatives); the margins zero the gradient of
    easy positives and easy negatives.
    """
    _, other = pair_masks(labels)
    pos = ((embed * proxy).sum(1, keepdim=True) - pos_margin).clamp(max=0.0) / temperature
    neg = ((embed @ embed.T) - neg_margin).clamp(min=0.0) / temperature
    logits = torch.cat([pos, neg.masked_fill(~other, float("-inf"))], dim=1)
    return (logits.logsumexp(1) - pos.squeeze(1)).mean()


class D2DCEHead(HeadPlugin):
    """Data-to-data cross-entropy of ReACGAN (Kang et al. 2021, "Rebooting ACGAN: auxiliary
    classifier GANs with stable training", NeurIPS): a proxy-based classifier on normalised
    embeddings that also contrasts samples of different classes, with margins. D minimises
    it on real images, G on fakes.

    D term: ``d2d_real``. G term: ``d2d_fake``.
    """

    name = "d2d_ce"
    description = "ReACGAN data-to-data cross-entropy with positive and negative margins"
    needs_class_labels = True

    class Config(PluginConfig):
        embed_dim: int = Field(128, ge=1, le=4096, description="width of the embedding")
        temperature: float = Field(0.5, gt=0.0, le=100.0, description="softmax temperature t")
        pos_margin: float = Field(0.98, ge=-1.0, le=1.0, description="m_p on proxy similarity")
        neg_margin: float = Field(0.02, ge=-1.0, le=1.0, description="m_n on sample similarity")
        spectral_norm: bool = Field(False, description="spectral norm on projection and proxies")

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        self.embedding = ProxyEmbedding(
            ctx.feature_dim, ctx.data.num_classes, cfg.embed_dim, cfg.spectral_norm
        )

    def loss(self, side: Side) -> Tensor:
        """The D2D-CE of one side's features and labels."""
        c = self.cfg
        labels = labels_of(side, self.name)
        embed, proxy = self.embedding(side.features, labels)
        return d2d_ce(embed, proxy, labels, c.temperature, c.pos_margin, c.neg_margin)

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return {"d2d_real": self.loss(real)}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return {"d2d_fake": self.loss(fake)}


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [D2DCEHead]
