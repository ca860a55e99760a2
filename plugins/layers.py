"""Small pieces the built-in networks and heads share: conditional batch norm, spectral norm,
DCGAN initialisation, and label/loss helpers for heads (weightings share weightings/common.py)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from mtbench.api import HeadContext, LossFamily, Side

WEIGHTED = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)


def size_problems(network: str, supported: dict[int, object], size: int) -> list[str]:
    """The spec problem for an image size a network has no layout for; none if it has one."""
    if size in supported:
        return []
    sizes = ", ".join(str(s) for s in supported)
    return [f"{network} supports image sizes {sizes}; the data set's is {size}"]


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation (Radford et al. 2016): weights ~ N(0, 0.02), biases 0.

    Call before ``apply_spectral_norm``: a parametrized weight cannot be written in place.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral norm (Miyato et al. 2018) on every conv, linear and embedding inside ``module``."""
    for m in list(module.modules()):
        if isinstance(m, WEIGHTED):
            spectral_norm(m)
    return module


def head_sn(option: bool | None, ctx: HeadContext) -> bool:
    """A head's spectral norm: its option when set, else the trunk's (``ctx.spectral_norm``)."""
    return ctx.spectral_norm if option is None else option


def trunk_sn(trunk: nn.Module) -> bool:
    """Whether a trunk module uses spectral norm (``TrunkPlugin.uses_spectral_norm``)."""
    uses = getattr(trunk, "uses_spectral_norm", None)
    return bool(uses()) if callable(uses) else False


def maybe_sn(module: nn.Module, on: bool) -> nn.Module:
    """``module`` with spectral norm applied when ``on``, else unchanged."""
    return apply_spectral_norm(module) if on else module


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose per-channel gain and bias come from a class embedding.

    De Vries et al. 2017 ("Modulating early visual processing by language"), as used by
    Miyato & Koyama 2018. With ``embed_dim == 0`` it is plain affine batch norm.
    """

    def __init__(self, channels: int, embed_dim: int) -> None:
        super().__init__()
        self.conditional = embed_dim > 0
        self.bn = nn.BatchNorm2d(channels, affine=not self.conditional)
        if self.conditional:
            self.to_gain = nn.Linear(embed_dim, channels)
            self.to_bias = nn.Linear(embed_dim, channels)

    def forward(self, x: Tensor, embedding: Tensor | None) -> Tensor:
        h = self.bn(x)
        if not self.conditional:
            return h
        gain = 1.0 + self.to_gain(embedding)
        bias = self.to_bias(embedding)
        return h * gain[:, :, None, None] + bias[:, :, None, None]


def resolve_loss(name: str | None, ctx: HeadContext) -> LossFamily:
    """The spec's adversarial loss family when ``name`` is None, else the named one."""
    return ctx.loss if name is None else ctx.build_loss(name)


def labels_of(side: Side, head: str) -> Tensor:
    """The side's class labels, or a clear error when a label-needing head gets none."""
    if side.labels is None:
        raise ValueError(f"head {head!r} needs class labels, but this batch has none")
    return side.labels


class ProxyEmbedding(nn.Module):
    """Unit-length sample embeddings and class proxies for metric-learning heads.

    A linear projection of the trunk features and a learnable class embedding (the class
    "proxy"), both L2-normalised so dot products are cosine similarities; the layout of
    ContraGAN (Kang & Park 2020) and ReACGAN (Kang et al. 2021).
    """

    def __init__(self, feature_dim: int, num_classes: int, embed_dim: int, sn: bool) -> None:
        super().__init__()
        self.project = maybe_sn(nn.Linear(feature_dim, embed_dim), sn)
        self.proxies = maybe_sn(nn.Embedding(num_classes, embed_dim), sn)

    def forward(self, features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """(embeddings (B, E), proxies of ``labels`` (B, E)), each row of unit length."""
        embed = nn.functional.normalize(self.project(features), dim=1)
        proxy = nn.functional.normalize(self.proxies(labels), dim=1)
        return embed, proxy


def pair_masks(labels: Tensor) -> tuple[Tensor, Tensor]:
    """Boolean (B, B) masks of same-class and other-class pairs, the diagonal in neither."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def conditioning(
    name: str, embed: nn.Module | None, z: Tensor, in_dim: int, labels: Tensor | None
) -> Tensor | None:
    """Check a generator's inputs and return the class embedding of ``labels`` (None if none).

    Labels are required exactly when the data has classes (``embed`` is set); ``z`` must be
    ``z_dim + code_dim`` wide.
    """
    if z.shape[1] != in_dim:
        raise ValueError(f"z has width {z.shape[1]}; expected z_dim + code_dim = {in_dim}")
    if embed is None:
        if labels is not None:
            raise ValueError(f"{name} generator is unconditional (no classes); pass labels=None")
        return None
    if labels is None:
        raise ValueError(f"{name} generator is class-conditional; labels are required")
    return embed(labels)
