"""Batches from a data set held as one uint8 tensor on the device (no DataLoader workers)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mtbench.api import DataInfo, TensorData


@dataclass
class Batch:
    images: dict[str, Tensor]  # float in [-1, 1]
    labels: Tensor | None
    targets: dict[str, Tensor]


def to_float(images: Tensor) -> Tensor:
    """uint8 [0, 255] -> float [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float [-1, 1] -> uint8 [0, 255], as torch-fidelity and PNG writers want."""
    return images.detach().float().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


class BatchSource:
    """Random index batches from tensors that already live on the device."""

    def __init__(self, data: TensorData, info: DataInfo, device: torch.device) -> None:
        self.data = data.to(device)
        self.info = info
        self.device = device
        self.n = len(data)
        self._paired = [k for k, t in info.targets.items() if t.kind == "image"]
        self._label_tables = {
            k: torch.tensor(v, dtype=torch.long, device=device)
            for k, v in info.label_targets.items()
        }

    def sample(self, n: int, gen: torch.Generator) -> Batch:
        idx = torch.randint(self.n, (n,), device=self.device, generator=gen)
        images = {"image": to_float(self.data.images[idx])}
        targets = {}
        for k, v in self.data.targets.items():
            if k in self._paired:
                images[k] = to_float(v[idx])
            else:
                targets[k] = v[idx]
        labels = None if self.data.labels is None else self.data.labels[idx]
        return Batch(images, labels, targets)

    def fake_labels(self, n: int, gen: torch.Generator) -> Tensor | None:
        """Conditioning labels for fakes, uniform over classes."""
        if self.info.num_classes == 0:
            return None
        return torch.randint(self.info.num_classes, (n,), device=self.device, generator=gen)

    def sample_conditions(self, n: int, gen: torch.Generator, names) -> dict[str, Tensor]:
        """Values of the conditioned targets, drawn jointly from random real samples."""
        if not names:
            return {}
        idx = torch.randint(self.n, (n,), device=self.device, generator=gen)
        return {k: self.data.targets[k][idx] for k in names}

    def targets_of(self, labels: Tensor | None) -> dict[str, Tensor]:
        """Class targets implied by conditioning labels (``DataInfo.label_targets``)."""
        if labels is None:
            return {}
        return {k: table[labels] for k, table in self._label_tables.items()}
