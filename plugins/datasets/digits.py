"""scikit-learn's 8x8 handwritten digits, upsampled: a tiny real data set that needs no download."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, PluginConfig, TensorData


class Digits(DatasetPlugin):
    """The 1,797 UCI digits shipped in scikit-learn, bilinearly upsampled to ``size``."""

    name: ClassVar[str] = "digits"
    description: ClassVar[str] = "scikit-learn's 8x8 digits (1797, bundled), upsampled to 16 or 32"

    class Config(PluginConfig):
        size: Literal[16, 32] = 16
        eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)
        split_seed: int = 0

    cfg: Config

    def info(self) -> DataInfo:
        return DataInfo(1, self.cfg.size, 10, tuple(str(d) for d in range(10)))

    def load(self) -> DataSplits:
        c = self.cfg
        images, labels = read_digits(c.size)
        n = len(labels)
        n_eval = min(round(n * c.eval_fraction), n - 1)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(c.split_seed))
        held_idx, train_idx = perm[:n_eval].sort().values, perm[n_eval:].sort().values
        train = TensorData(images[train_idx], labels[train_idx])
        held = TensorData(images[held_idx], labels[held_idx]) if n_eval else None
        provenance = {
            "source": "sklearn.datasets.load_digits",
            "resize": f"bilinear 8 -> {c.size}",
            "split_seed": c.split_seed,
            "n_train": n - n_eval,
            "n_eval": n_eval,
        }
        return DataSplits(train, held, provenance)


def read_digits(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as uint8 (1797, 1, size, size) images scaled to 0-255, and int64 labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32)[:, None] / 16.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    images = (x * 255).round().clamp(0, 255).to(torch.uint8)
    return images, torch.as_tensor(bunch.target, dtype=torch.int64)


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [Digits]
