"""A third-party data set with its own paired target and derivation, for per-output tests.

16x16 images of one bright bar whose row is the class (4 classes, with noise), paired with
``mirrored`` (the image flipped left-right, which ``derive`` declares) and ``shadow`` (a
blurred copy it does not declare). It uses only ``mtbench.api``: nothing in mtbench knows it.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, PluginConfig, TargetInfo, TensorData

SIZE, CLASSES = 16, 4


class MirroredBars(DatasetPlugin):
    """Bars by class, with a mirrored target it can derive and a shadow target it cannot."""

    name: ClassVar[str] = "mirrored_bars"
    description: ClassVar[str] = "bars with a mirrored (derivable) and a shadow target"

    class Config(PluginConfig):
        n_train: int = 400
        n_eval: int = 200
        wrong_shape: bool = False  # derive returns the wrong shape (a broken plugin)

    def info(self) -> DataInfo:
        shape = (1, SIZE, SIZE)
        targets = {"mirrored": TargetInfo("image", shape=shape)}
        targets["shadow"] = TargetInfo("image", shape=shape)
        return DataInfo(1, SIZE, CLASSES, tuple(f"row{k}" for k in range(CLASSES)), targets)

    def load(self) -> DataSplits:
        gen = torch.Generator().manual_seed(0)
        return DataSplits(self._split(self.cfg.n_train, gen), self._split(self.cfg.n_eval, gen))

    def _split(self, n: int, gen: torch.Generator) -> TensorData:
        labels = torch.arange(n) % CLASSES
        x = torch.randint(0, 40, (n, 1, SIZE, SIZE), generator=gen)
        start = torch.randint(0, SIZE // 2, (n,), generator=gen)
        for i, (k, s) in enumerate(zip(labels.tolist(), start.tolist())):
            x[i, 0, 4 * k : 4 * k + 3, s : s + SIZE // 2] = 230
        images = x.to(torch.uint8)
        shadow = torch.nn.functional.avg_pool2d(images.float(), 3, 1, 1).to(torch.uint8)
        targets = {"mirrored": images.flip(-1), "shadow": shadow}
        return TensorData(images, labels, targets)

    def derive(self, images: Tensor, target: str) -> Tensor | None:
        if target != "mirrored":
            return None
        out = images.flip(-1)
        return out[:, :, :8] if self.cfg.wrong_shape else out


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [MirroredBars]
