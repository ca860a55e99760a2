"""CIFAR-100 from the official python-pickle files in a local folder; downloads only when asked.

Read with the same restricted unpickler as CIFAR-10 (``cifar10``): only plain data and numpy
arrays load, anything else is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from pydantic import Field

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, PluginConfig, TargetInfo, TensorData
from mtbench.errors import UserError
from mtbench_plugins.datasets import cifar10

FOLDER = "cifar-100-python"
FILES = ("train", "test", "meta")
FINE, COARSE = 100, 20


class CIFAR100(DatasetPlugin):
    """CIFAR-100 (Krizhevsky 2009): 60,000 32x32 colour images of 100 classes in 20
    superclasses; ``train`` is the train split, ``test`` the eval split. The fine label is the
    class; the superclass is the class target ``coarse`` (for the ``attribute`` head).
    """

    name: ClassVar[str] = "cifar100"
    description: ClassVar[str] = "CIFAR-100 from the local python-pickle files; download if asked"

    class Config(PluginConfig):
        root: str = Field("data/cifar100", description=f"folder holding {FOLDER}/ or its files")
        download: bool = Field(False, description="fetch through torchvision (needs network)")

    cfg: Config

    def info(self) -> DataInfo:
        names = tuple(str(k) for k in range(FINE))
        folder = self._folder(must=False)
        if folder is not None:
            meta = _load(folder / "meta")
            names = tuple(_text(n) for n in _entry(meta, "fine_label_names", folder / "meta"))
        return DataInfo(3, 32, FINE, names, {"coarse": TargetInfo("class", COARSE)})

    def load(self) -> DataSplits:
        if self.cfg.download:
            download(Path(self.cfg.root).expanduser())
        folder = self._folder(must=True)
        train, held = read_file(folder / "train"), read_file(folder / "test")
        provenance = {"source": "train + test", "train": "train", "eval": "test"}
        provenance |= {"n_train": len(train), "n_eval": len(held), "folder": str(folder)}
        return DataSplits(train, held, provenance)

    def _folder(self, must: bool) -> Path | None:
        root = Path(self.cfg.root).expanduser()
        for folder in (root, root / FOLDER):
            if all((folder / n).is_file() for n in FILES):
                return folder
        if not must:
            return None
        raise UserError(
            f"dataset.root: '{root}' has no CIFAR-100 files (expected {FOLDER}/ with "
            f"{', '.join(FILES)}); point dataset.root at the folder holding them or set "
            "dataset.download: true"
        )


def read_file(path: Path) -> TensorData:
    """``train`` or ``test`` as uint8 (N, 3, 32, 32) images, fine labels, coarse targets."""
    batch = _load(path)
    data = np.asarray(_entry(batch, "data", path))
    fine = np.asarray(_entry(batch, "fine_labels", path))
    coarse = np.asarray(_entry(batch, "coarse_labels", path))
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UserError(f"{path}: expected uint8 N x 3072 data, found {data.dtype} {data.shape}")
    for labels, k in ((fine, FINE), (coarse, COARSE)):
        if labels.shape != (len(data),) or (
            labels.size and not 0 <= labels.min() <= labels.max() < k
        ):
            raise UserError(f"{path}: expected {len(data)} labels 0-{k - 1}; re-download it")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    targets = {"coarse": torch.from_numpy(coarse.astype(np.int64))}
    return TensorData(images, torch.from_numpy(fine.astype(np.int64)), targets)


def download(root: Path) -> None:
    """Fetch CIFAR-100 into ``root/cifar-100-python`` through torchvision (network needed)."""
    try:
        from torchvision.datasets import CIFAR100 as TorchvisionCIFAR100

        TorchvisionCIFAR100(str(root), train=True, download=True)
    except Exception as exc:
        raise UserError(
            f"dataset.download: could not download CIFAR-100 into '{root}': {exc}"
        ) from exc


def _load(path: Path) -> dict:
    """A pickle through CIFAR-10's restricted unpickler, its errors naming CIFAR-100."""
    try:
        return cifar10._unpickle(path)
    except UserError as exc:
        raise UserError(str(exc).replace("CIFAR-10", "CIFAR-100")) from None


def _entry(batch: dict, key: str, path: Path):
    try:
        return cifar10._field(batch, key, path)
    except UserError as exc:
        raise UserError(str(exc).replace("CIFAR-10", "CIFAR-100")) from None


def _text(name) -> str:
    return name.decode() if isinstance(name, bytes) else str(name)


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [CIFAR100]
