"""A 40-image labelled set whose image i is filled with the value i (batches name their rows)."""

from __future__ import annotations

import torch

from mtbench.api import DataInfo, TargetInfo, TensorData

N, CLASSES = 40, 4


def small_set() -> tuple[TensorData, DataInfo]:
    """Image i is filled with i, so a batch's images name their indices."""
    images = torch.arange(N, dtype=torch.uint8).view(N, 1, 1, 1).expand(N, 1, 4, 4).contiguous()
    labels = torch.arange(N) % CLASSES
    targets = {"odd": torch.arange(N) % 2}
    info = DataInfo(1, 4, CLASSES, targets={"odd": TargetInfo("class", 2)})
    return TensorData(images, labels, targets), info
