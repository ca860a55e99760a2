"""Batches from a data set held as one uint8 tensor on the device (no DataLoader workers).

The streaming source for splits beyond the device budget is ``mtbench.stream.StreamSource``;
``mtbench.source_choice`` picks one. Both share ``Conditions`` (fake labels, conditions).
"""

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


def hflip(images: dict[str, Tensor], flip: Tensor) -> dict[str, Tensor]:
    """Mirror the rows of every image tensor where ``flip`` (B,) is true, pairs alike."""
    mask = flip.view(-1, 1, 1, 1)
    return {k: torch.where(mask, v.flip(-1), v) for k, v in images.items()}


def to_uint8(images: Tensor) -> Tensor:
    """float [-1, 1] -> uint8 [0, 255], as torch-fidelity and PNG writers want."""
    return images.detach().float().add(1.0).mul(127.5).round_().clamp_(0, 255).to(torch.uint8)


class Conditions:
    """What both sources share: fake labels, conditions drawn from real samples, label targets.

    Subclasses set ``info``, ``device``, ``n`` and ``cond_targets`` (the non-image targets of
    the whole split, on the device: small even for large sets).
    """

    info: DataInfo
    device: torch.device
    n: int
    cond_targets: dict[str, Tensor]
    choice: dict = {}  # noqa: RUF012 -- set per instance by mtbench.source_choice

    def _init_conditions(self, data: TensorData, info: DataInfo, device: torch.device) -> None:
        self.info, self.device, self.n = info, device, len(data)
        self._paired = [k for k, t in info.targets.items() if t.kind == "image"]
        self.cond_targets = {
            k: v.to(device) for k, v in data.targets.items() if k not in self._paired
        }
        self._label_tables = {
            k: torch.tensor(v, dtype=torch.long, device=device)
            for k, v in info.label_targets.items()
        }

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
        return {k: self.cond_targets[k][idx] for k in names}

    def targets_of(self, labels: Tensor | None) -> dict[str, Tensor]:
        """Class targets implied by conditioning labels (``DataInfo.label_targets``)."""
        if labels is None:
            return {}
        return {k: table[labels] for k, table in self._label_tables.items()}

    def seek(self, batches: int) -> None:
        """Continue the batch stream after ``batches`` batches (resume); no-op in memory."""

    def describe(self) -> dict:
        """What spec.json ``meta.data_source`` records about this source."""
        return dict(self.choice)


class BatchSource(Conditions):
    """Random index batches from tensors that already live on the device."""

    def __init__(
        self, data: TensorData, info: DataInfo, device: torch.device, flip: bool = False
    ) -> None:
        self.data = data.to(device)
        self.flip = flip
        self._init_conditions(self.data, info, device)

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
        if self.flip:
            images = hflip(images, torch.rand(n, device=self.device, generator=gen) < 0.5)
        return Batch(images, labels, targets)
