"""Procedural multi-attribute shapes: the embedded default data set, no download, seeded.

Each image is one coloured circle, square or triangle, small or large, somewhere on a black
background. Shape, colour and size are class targets, the centre a continuous one, so a
single data set exercises classification, attribute and regression heads.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, PluginConfig, TargetInfo, TensorData

SHAPES = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue")
SIZES = ("small", "large")
RADII = (0.3, 0.6)  # half-extent of a small and a large shape, in [-1, 1] image units


class Shapes(DatasetPlugin):
    """Circles, squares and triangles in three colours and two sizes at random positions."""

    name: ClassVar[str] = "shapes"
    description: ClassVar[str] = "procedural coloured shapes with shape/colour/size/position tasks"

    class Config(PluginConfig):
        size: Literal[16, 32] = 32
        n: int = Field(6000, ge=2)
        eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)
        seed: int = 0

    cfg: Config

    def info(self) -> DataInfo:
        names = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)
        targets = {
            "shape": TargetInfo("class", num_classes=len(SHAPES)),
            "colour": TargetInfo("class", num_classes=len(COLOURS)),
            "size": TargetInfo("class", num_classes=len(SIZES)),
            "position": TargetInfo("continuous", dim=2),
        }
        label_targets = {
            "shape": tuple(i // len(COLOURS) for i in range(len(names))),
            "colour": tuple(i % len(COLOURS) for i in range(len(names))),
        }
        n_train, n_eval = self.split_sizes()
        sizes = {"train": n_train, "eval": n_eval}
        return DataInfo(3, self.cfg.size, len(names), names, targets, label_targets, sizes)

    def split_sizes(self) -> tuple[int, int]:
        """Images in the train and eval splits: the last ``eval_fraction`` of ``n`` is eval."""
        n_eval = min(round(self.cfg.n * self.cfg.eval_fraction), self.cfg.n - 1)
        return self.cfg.n - n_eval, n_eval

    def load(self) -> DataSplits:
        c = self.cfg
        data = render(c.n, c.size, torch.Generator().manual_seed(c.seed))
        n_train, n_eval = self.split_sizes()
        train, held = _slice(data, 0, n_train), _slice(data, n_train, c.n)
        provenance = {
            "source": "procedural",
            "seed": c.seed,
            "n_train": n_train,
            "n_eval": n_eval,
            "eval": "last n_eval of the n generated images",
        }
        return DataSplits(train, held if n_eval else None, provenance)


def render(n: int, size: int, gen: torch.Generator) -> TensorData:
    """Sample ``n`` attribute tuples from ``gen`` and draw them as uint8 (n, 3, size, size)."""
    shape = torch.randint(len(SHAPES), (n,), generator=gen)
    colour = torch.randint(len(COLOURS), (n,), generator=gen)
    big = torch.randint(len(SIZES), (n,), generator=gen)
    radius = torch.tensor(RADII)[big]
    position = (torch.rand(n, 2, generator=gen) * 2 - 1) * (1 - radius)[:, None]
    mask = _masks(shape, radius, position, size)
    rgb = torch.eye(3, dtype=torch.uint8)[colour] * 255
    images = mask[:, None].to(torch.uint8) * rgb[:, :, None, None]
    targets = {"shape": shape, "colour": colour, "size": big, "position": position}
    return TensorData(images, shape * len(COLOURS) + colour, targets)


def _masks(shape: Tensor, radius: Tensor, position: Tensor, size: int) -> Tensor:
    """Boolean (n, size, size) masks; x runs along columns, y down the rows, pixel centres."""
    grid = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    dx = grid[None, None, :] - position[:, 0, None, None]
    dy = grid[None, :, None] - position[:, 1, None, None]
    r = radius[:, None, None]
    circle = dx**2 + dy**2 <= r**2
    square = torch.maximum(dx.abs(), dy.abs()) <= 0.85 * r
    triangle = (dy.abs() <= r) & (dx.abs() <= (dy + r) / 2)  # apex up, base at the bottom
    s = shape[:, None, None]
    return torch.where(s == 0, circle, torch.where(s == 1, square, triangle))


def _slice(data: TensorData, start: int, stop: int) -> TensorData:
    targets = {k: v[start:stop].clone() for k, v in data.targets.items()}
    return TensorData(data.images[start:stop].clone(), data.labels[start:stop].clone(), targets)


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [Shapes]
