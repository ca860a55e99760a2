"""Sample grids from fixed noise: one row per class, the same inputs at every interval."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torchvision.utils import save_image

from mtbench.api import LatentCode, TargetInfo
from mtbench.data import BatchSource
from mtbench.io import atomic_write_bytes
from mtbench.latent import generator_input


@dataclass
class FixedInputs:
    z: Tensor
    labels: Tensor | None
    per_row: int


def fixed_inputs(
    source: BatchSource,
    z_dim: int,
    codes: dict[str, LatentCode],
    conditions: dict[str, TargetInfo],
    per_class: int,
    seed: int,
) -> FixedInputs:
    """Noise drawn from its own generator, so grids never disturb the training RNG."""
    info = source.info
    rows = info.num_classes or per_class
    gen = torch.Generator(source.device).manual_seed(seed + 1_000_003)
    labels = None
    if info.num_classes:
        labels = torch.arange(info.num_classes, device=source.device).repeat_interleave(per_class)
    x = generator_input(rows * per_class, z_dim, codes, conditions, source, gen, labels)
    return FixedInputs(x.z, labels, per_class)


@torch.no_grad()
def save_grid(generator: torch.nn.Module, inputs: FixedInputs, path: Path) -> None:
    """Write every output of the generator side by side as one PNG grid (atomically)."""
    was_training = generator.training
    generator.eval()
    try:
        out = generator(inputs.z, inputs.labels)
    finally:
        generator.train(was_training)
    image = out["image"].float()
    buf = io.BytesIO()
    save_image(image.add(1).div(2).clamp(0, 1), buf, nrow=inputs.per_row, padding=2, format="png")
    atomic_write_bytes(path, buf.getvalue())
    for name, extra in out.items():
        if name != "image":
            buf = io.BytesIO()
            grid = extra.float().add(1).div(2).clamp(0, 1)
            save_image(grid, buf, nrow=inputs.per_row, padding=2, format="png")
            atomic_write_bytes(path.with_name(f"{path.stem}_{name}.png"), buf.getvalue())
