"""SS-GAN self-supervised head: predict which of four rotations an image was given."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import HeadContext, HeadPlugin, PluginConfig, Side
from mtbench_plugins.layers import head_sn, maybe_sn

ROTATIONS = 4  # 0, 90, 180 and 270 degrees


def rotations(images: Tensor) -> tuple[Tensor, Tensor]:
    """Every image at 0/90/180/270 degrees (4B, C, H, W), and each copy's rotation index."""
    rotated = torch.cat([torch.rot90(images, k, dims=(2, 3)) for k in range(ROTATIONS)])
    index = torch.arange(ROTATIONS, device=images.device).repeat_interleave(images.shape[0])
    return rotated, index


class RotationHead(HeadPlugin):
    """Rotation prediction of SS-GAN (Chen et al. 2019, "Self-supervised GANs via auxiliary
    rotation loss", CVPR): the trunk runs again on four rotated copies of the images and a
    4-way classifier names the rotation. D learns it on real images; G is rewarded when the
    rotations of its fakes are recognisable. The paper weights D's term by beta = 1 and G's by
    alpha = 0.2: set them with the spec's ``weight`` and ``g_weight``.

    D term: ``rot_real``. G term: ``rot_fake``. Needs square images.
    """

    name = "rotation"
    description = "SS-GAN 4-way rotation prediction (extra trunk pass on rotated images)"
    uses_trunk_features = False  # it runs the trunk itself, on rotated copies

    class Config(PluginConfig):
        batch_fraction: float = Field(
            1.0, gt=0.0, le=1.0, description="fraction of the batch rotated, to save compute"
        )
        spectral_norm: bool | None = Field(
            None, description="spectral norm on the linear layer; default: as the trunk"
        )

    def __init__(self, cfg: Config, ctx: HeadContext) -> None:
        super().__init__(cfg, ctx)
        self.classifier = maybe_sn(
            nn.Linear(ctx.feature_dim, ROTATIONS), head_sn(cfg.spectral_norm, ctx)
        )

    def loss(self, side: Side) -> Tensor:
        """Rotation cross-entropy over the first ``batch_fraction`` of the side's images."""
        images = side.images["image"]
        n = max(1, math.ceil(images.shape[0] * self.cfg.batch_fraction))
        rotated, index = rotations(images[:n])
        return F.cross_entropy(self.classifier(self.ctx.trunk(rotated)), index)

    def d_terms(self, real: Side, fake: Side) -> dict[str, Tensor]:
        return {"rot_real": self.loss(real)}

    def g_terms(self, fake: Side, real: Side) -> dict[str, Tensor]:
        return {"rot_fake": self.loss(fake)}


@hookimpl
def mtbench_heads() -> list[type[HeadPlugin]]:
    return [RotationHead]
