"""MNIST with paired image targets for single-source multi-task generators.

Each digit comes with images derived from it: the digit at twice the resolution
(super-resolution), its Sobel edge map (edge detection) and its negative (inversion). A
``multi_output`` generator draws all of them from one latent, and ``reconstruction``
heads tie each output to the task.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, TargetInfo, TensorData
from mtbench_plugins.datasets.mnist import MNIST

Task = Literal["image_2x", "edges", "inverted"]
TASKS: tuple[str, ...] = ("image_2x", "edges", "inverted")
CHUNK = 4096  # images per float conversion, to keep memory small on 70,000 digits
# Sobel magnitude that maps to 255: a full-contrast straight step edge (|gx| = 4 on [0, 1]).
EDGE_FULL_SCALE = 4.0


class MNISTTasks(MNIST):
    """MNIST (LeCun et al. 1998) with paired targets in the spirit of single-source
    multi-task image generation: ``image_2x`` (1, 2S, 2S) bilinear 2x upsample, ``edges``
    (1, S, S) Sobel gradient magnitude, ``inverted`` (1, S, S) = 255 - image, where S is
    ``size``. Files, splits and holdout are exactly ``mnist``'s.
    """

    name: ClassVar[str] = "mnist_tasks"
    description: ClassVar[str] = "MNIST with paired 2x, Sobel-edge and inverted image targets"

    class Config(MNIST.Config):
        tasks: list[Task] = Field(
            default_factory=lambda: list(TASKS), min_length=1, description="paired targets"
        )

        @field_validator("tasks")
        @classmethod
        def _unique(cls, tasks: list[str]) -> list[str]:
            if len(set(tasks)) != len(tasks):
                raise ValueError(f"tasks must not repeat: {tasks}")
            return tasks

    cfg: Config

    def info(self) -> DataInfo:
        base = super().info()
        s = self.cfg.size
        shapes = {"image_2x": (1, 2 * s, 2 * s), "edges": (1, s, s), "inverted": (1, s, s)}
        targets = {t: TargetInfo("image", shape=shapes[t]) for t in self.cfg.tasks}
        return DataInfo(base.channels, s, base.num_classes, base.class_names, targets)

    def load(self) -> DataSplits:
        splits = super().load()
        train = self._with_targets(splits.train)
        held = None if splits.eval is None else self._with_targets(splits.eval)
        provenance = splits.provenance | {
            "tasks": list(self.cfg.tasks),
            "targets": "image_2x: bilinear x2; edges: Sobel magnitude / 4 (replicate border); "
            "inverted: 255 - image",
        }
        return DataSplits(train, held, provenance)

    def derive(self, images: Tensor, target: str) -> Tensor | None:
        """The paired target of uint8 digits, by the very function ``load()`` builds it with."""
        return derive(images, target) if target in TASKS else None

    def _with_targets(self, data: TensorData) -> TensorData:
        targets = {t: derive(data.images, t) for t in self.cfg.tasks}
        return TensorData(data.images, data.labels, data.targets | targets)


def derive(images: Tensor, task: str) -> Tensor:
    """The uint8 target ``task`` of uint8 images (N, C, H, W), computed in chunks."""
    if task == "inverted":
        return 255 - images
    fn = {"image_2x": upsample_2x, "edges": sobel_edges}[task]
    return torch.cat([fn(chunk) for chunk in images.split(CHUNK)]) if len(images) else fn(images)


def upsample_2x(images: Tensor) -> Tensor:
    """Bilinear 2x upsampling of uint8 images, rounded back to uint8."""
    x = F.interpolate(images.float(), scale_factor=2, mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


def sobel_edges(images: Tensor) -> Tensor:
    """Sobel gradient magnitude of uint8 images as uint8, a full-contrast step edge -> 255.

    Borders replicate the edge pixels, so a constant image has no edges anywhere.
    """
    x = F.pad(images.float() / 255.0, (1, 1, 1, 1), mode="replicate")
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    kernels = torch.stack([kx, kx.t()])[:, None]  # (2, 1, 3, 3): d/dx, d/dy
    c = images.shape[1]
    grads = F.conv2d(x, kernels.repeat(c, 1, 1, 1), groups=c)  # (N, 2C, H, W)
    magnitude = grads.unflatten(1, (c, 2)).square().sum(2).sqrt()
    return (magnitude / EDGE_FULL_SCALE * 255).round().clamp(0, 255).to(torch.uint8)


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [MNISTTasks]
