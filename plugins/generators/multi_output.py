"""Single-source multi-task generator: one shared trunk, one output branch per image task."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import Tensor, nn

from mtbench import hookimpl
from mtbench.api import DataInfo, GeneratorContext, GeneratorPlugin, PluginConfig
from mtbench_plugins.generators.dcgan import LAYOUT
from mtbench_plugins.layers import (
    ConditionalBatchNorm2d,
    conditioning,
    dcgan_init,
    size_problems,
)

MAX_SCALE = 8  # a branch may upsample the base resolution by 2, 4 or 8


class Branch(nn.Module):
    """A small conv head: (conv-transpose x2, BN, ReLU) per doubling, conv3, tanh."""

    def __init__(self, width: int, channels: int, doublings: int) -> None:
        super().__init__()
        ups = []
        for _ in range(doublings):
            ups += [nn.ConvTranspose2d(width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width)]
            ups.append(nn.ReLU())
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(), *ups
        )
        self.to_image = nn.Conv2d(width, channels, 3, 1, 1)

    def forward(self, h: Tensor) -> Tensor:
        return torch.tanh(self.to_image(self.body(h)))


class MultiOutputGenerator(GeneratorPlugin):
    """Single-source multi-task generation: one conditional DCGAN trunk (Radford et al. 2016,
    with conditional batch norm, de Vries et al. 2017) maps (z, class) to shared features at
    the data's resolution, and K branches turn them into K paired images (e.g. the image,
    its 2x super-resolution, its edges), as in multi-task learning's hard parameter sharing
    (Caruana 1997) and single-source multi-task image generation. Each branch is trained by
    the heads of the spec (``reconstruction`` per extra output, adversarial on ``image``).
    """

    name = "multi_output"
    description = "shared conditional DCGAN trunk with one conv branch per named image output"

    class Config(PluginConfig):
        z_dim: int = Field(64, ge=1, le=1024, description="noise width (before latent codes)")
        width: int = Field(64, ge=4, le=512, description="channels of the shared features")
        embed_dim: int = Field(64, ge=1, le=1024, description="width of the class embedding")
        outputs: list[str] = Field(
            default_factory=lambda: ["image"],
            min_length=1,
            description='"image" and image targets the data set declares (e.g. "image_2x")',
        )

        @field_validator("outputs")
        @classmethod
        def _unique(cls, outputs: list[str]) -> list[str]:
            if len(set(outputs)) != len(outputs):
                raise ValueError(f"outputs must not repeat: {outputs}")
            return outputs

    @classmethod
    def check(cls, cfg: PluginConfig, data: DataInfo) -> list[str]:
        wrong_size = size_problems("multi_output generator", LAYOUT, data.size)
        if wrong_size:
            return wrong_size
        problems = [] if "image" in cfg.outputs else ['outputs must include "image"']
        declared = [k for k, t in data.targets.items() if t.kind == "image"]
        for name in cfg.outputs:
            if name == "image":
                continue
            if name not in declared:
                problems.append(
                    f"output {name!r} is not an image target of the data set "
                    f"(its image targets: {', '.join(declared) or 'none'})"
                )
            elif _doublings(data.targets[name].shape, data.size) is None:
                problems.append(
                    f"output {name!r} has shape {data.targets[name].shape}; a branch needs a "
                    f"square side of {data.size} times 1, 2, 4 or {MAX_SCALE}"
                )
        return problems

    def __init__(self, cfg: Config, ctx: GeneratorContext) -> None:
        super().__init__(cfg, ctx)
        data = ctx.data
        self.z_dim = cfg.z_dim
        self.in_dim = cfg.z_dim + ctx.code_dim
        self.start, ups = LAYOUT[data.size]
        chans = [cfg.width * 2 ** (ups - i) for i in range(ups + 1)]  # e.g. 8w, 4w, 2w, w
        embed_dim = cfg.embed_dim if data.num_classes > 0 else 0
        self.embed = nn.Embedding(data.num_classes, embed_dim) if embed_dim else None
        self.project = nn.Linear(self.in_dim, chans[0] * self.start**2, bias=False)
        self.norms = nn.ModuleList(ConditionalBatchNorm2d(c, embed_dim) for c in chans)
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False)
            for cin, cout in zip(chans, chans[1:])
        )
        self.shapes = self._output_shapes()
        self.branches = nn.ModuleDict(
            {
                name: Branch(cfg.width, shape[0], _doublings(shape, data.size))
                for name, shape in self.shapes.items()
            }
        )
        dcgan_init(self)

    def _output_shapes(self) -> dict[str, tuple[int, int, int]]:
        d = self.ctx.data
        return {
            name: (d.channels, d.size, d.size) if name == "image" else d.targets[name].shape
            for name in self.cfg.outputs
        }

    def outputs(self) -> dict[str, tuple[int, int, int]]:
        return dict(self.shapes)

    def shared_parameters(self) -> list[nn.Parameter]:
        """The shared trunk's (embedding, projection, norms, upsamplings), not the branches':
        its last upsampling is the layer every output's terms reach (GradNorm's W)."""
        parts = [self.embed, self.project, self.norms, self.ups]
        return [p for m in parts if m is not None for p in m.parameters()]

    def trunk(self, z: Tensor, labels: Tensor | None) -> Tensor:
        """The shared features (B, width, size, size) every branch reads."""
        e = conditioning("multi_output", self.embed, z, self.in_dim, labels)
        h = self.project(z).view(z.shape[0], -1, self.start, self.start)
        h = F.relu(self.norms[0](h, e))
        for up, norm in zip(self.ups, self.norms[1:]):
            h = F.relu(norm(up(h), e))
        return h

    def forward(self, z: Tensor, labels: Tensor | None) -> dict[str, Tensor]:
        h = self.trunk(z, labels)
        return {name: branch(h) for name, branch in self.branches.items()}


def _doublings(shape: tuple[int, int, int] | None, size: int) -> int | None:
    """How many 2x upsamplings turn ``size`` into the target's square side, or None."""
    if shape is None or len(shape) != 3 or shape[1] != shape[2] or shape[1] % size:
        return None
    scale = shape[1] // size
    if scale > MAX_SCALE or scale & (scale - 1):
        return None
    return int(math.log2(scale))


@hookimpl
def mtbench_generators() -> list[type[GeneratorPlugin]]:
    return [MultiOutputGenerator]
