"""Sample grids from fixed noise: one row per class, the same inputs at every interval."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor
from torchvision.utils import make_grid, save_image

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
def save_grid(generator: torch.nn.Module, inputs: FixedInputs, path: Path) -> dict[str, Tensor]:
    """Write every output of the generator as one PNG grid each (atomically); returns the
    grids by output name (CHW in [0, 1]) for other views of the same samples (TensorBoard)."""
    was_training = generator.training
    generator.eval()
    try:
        out = generator(inputs.z, inputs.labels)
    finally:
        generator.train(was_training)
    grids = {}
    for name, images in out.items():
        grids[name] = make_grid(images.float().add(1).div(2).clamp(0, 1), inputs.per_row)
        target = path if name == "image" else path.with_name(f"{path.stem}_{name}.png")
        buf = io.BytesIO()
        save_image(grids[name], buf, format="png")
        atomic_write_bytes(target, buf.getvalue())
    return grids
