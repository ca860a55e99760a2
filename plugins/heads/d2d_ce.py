"""ReACGAN's data-to-data cross-entropy (D2D-CE) with margins on projected features."""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.layers import ProxyEmbedding, head_sn, labels_of, pair_masks


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


def d2d_ce_studiogan(
    embed: Tensor, proxy: Tensor, labels: Tensor, temperature: float, pos_margin: float
) -> Tensor:
    """Mean D2D-CE as PyTorch-StudioGAN computes it (``src/utils/losses.py``,
    ``Data2DataCrossEntropyLoss``): the negative margin is 1 - m_p, and the negatives'
    similarities, after the ReLU, are shifted by their row maximum (detached) while the
    positive is not, so the negatives weigh exp(-max_j s_ij) times less than in the paper.

    With s_ij = (<f_i, f_j> + m_p - 1) / t (j != i) and p_i = relu((m_p - <f_i, v_yi>) / t):
    p_i + log(exp(-p_i) + sum_{j: y_j != y_i} exp(relu(s_ij) - max_j s_ij)).
    """
    _, other = pair_masks(labels)
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    sim = (embed @ embed.T + pos_margin - 1.0) / temperature
    row_max = sim.masked_fill(eye, float("-inf")).amax(1, keepdim=True)
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))
    negatives = (torch.exp(F.relu(sim) - row_max.detach()) * other).sum(1)
    pos = F.relu((pos_margin - (embed * proxy).sum(1)) / temperature)
    return (pos + torch.log(torch.exp(-pos) + negatives)).mean()


class D2DCEHead(HeadPlugin):
    """Data-to-data cross-entropy of ReACGAN (Kang et al. 2021, "Rebooting ACGAN: auxiliary
    classifier GANs with stable training", NeurIPS): a proxy-based classifier on normalised
    embeddings that also contrasts samples of different classes, with margins. D minimises
    it on real images, G on fakes. ``variant: "studiogan"`` computes it as PyTorch-StudioGAN
    does (``d2d_ce_studiogan``: negative margin 1 - m_p, negatives shifted by their row
    maximum); the default is the paper's equation. Defaults follow StudioGAN's
    ``src/configs/CIFAR10/ReACGAN.yaml``: d_embed_dim 512, temperature 0.5, m_p 0.98 (its
    negative margin 1 - m_p = 0.02), and its ``cond_lambda: 0.5`` is this head's spec
    ``weight`` there (the recipe ``recipes/cifar10/reacgan.json`` sets it).

    D term: ``d2d_real``. G term: ``d2d_fake``.
    """

    name = "d2d_ce"
    description = "ReACGAN data-to-data cross-entropy with positive and negative margins"
    needs_class_labels = True

    class Config(PluginConfig):
        embed_dim: int = Field(512, ge=1, le=4096, description="width of the embedding")
        temperature: float = Field(0.5, gt=0.0, le=100.0, description="softmax temperature t")
        pos_margin: float = Field(0.98, ge=-1.0, le=1.0, description="m_p on proxy similarity")
        neg_margin: float = Field(0.02, ge=-1.0, le=1.0, description="m_n on sample similarity")
        spectral_norm: bool | None = Field(
            None, description="spectral norm on projection and proxies; default: as the trunk"
        )
        variant: Literal["paper", "studiogan"] = Field(
            "paper", description="the paper's equation, or StudioGAN's computation of it"
        )

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        self.embedding = ProxyEmbedding(
            ctx.feature_dim, ctx.data.num_classes, cfg.embed_dim, head_sn(cfg.spectral_norm, ctx)
        )

    def loss(self, side: Side) -> Tensor:
        """The D2D-CE of one side's features and labels."""
        c = self.cfg
        labels = labels_of(side, self.name)
        embed, proxy = self.embedding(side.features, labels)
        if c.variant == "studiogan":
            return d2d_ce_studiogan(embed, proxy, labels, c.temperature, c.pos_margin)
        return d2d_ce(embed, proxy, labels, c.temperature, c.pos_margin, c.neg_margin)

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return {"d2d_real": self.loss(real)}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return {"d2d_fake": self.loss(fake)}


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [D2DCEHead]
