"""MNIST from the standard IDX files in a local folder; downloads only when asked.

With only one split on disk (e.g. the 10,000-image test set) a seeded holdout becomes the
eval split, and the provenance says so, so no score is silently taken on training images.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from mtbench_plugins.datasets.idx import read_idx
from pydantic import Field
from torch import Tensor

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, PluginConfig, TensorData
from mtbench.errors import UserError

STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
EXPECTED = " and/or ".join(f"{i}[.gz] + {lab}[.gz]" for i, lab in STEMS.values())


class MNIST(DatasetPlugin):
    """Handwritten digits 0-9, 28x28 grey (or zero-padded to 32x32), from IDX files."""

    name: ClassVar[str] = "mnist"
    description: ClassVar[str] = "MNIST digits from local IDX files (root); download only if asked"

    class Config(PluginConfig):
        root: str = "data/mnist"
        download: bool = False
        size: Literal[28, 32] = 28
        holdout: int = Field(2000, ge=0)
        split_seed: int = 0

    cfg: Config

    def info(self) -> DataInfo:
        return DataInfo(1, self.cfg.size, 10, tuple(str(d) for d in range(10)))

    def load(self) -> DataSplits:
        c = self.cfg
        root = Path(c.root).expanduser()
        if c.download:
            download(root)
        found = find_splits(root)
        parts = {split: read_split(*paths) for split, paths in found.items()}
        files = [str(p) for paths in found.values() for p in paths]
        if len(parts) == 2:
            train, held = parts["train"], parts["t10k"]
            provenance = {"source": "train + t10k", "train": "train files", "eval": "t10k files"}
        else:
            (split,) = parts
            train, held, provenance = self._holdout(split, parts[split], found[split][0])
        train = _resize(train, c.size)
        held = None if held is None else _resize(held, c.size)
        provenance |= {
            "n_train": len(train),
            "n_eval": 0 if held is None else len(held),
            "size": c.size,
            "files": files,
        }
        return DataSplits(train, held, provenance)

    def _holdout(self, split: str, data: TensorData, path: Path) -> tuple:
        """Split one file pair into train and a seeded eval holdout of ``cfg.holdout`` images."""
        c, n = self.cfg, len(data)
        if c.holdout >= n:
            raise UserError(
                f"dataset.holdout: {c.holdout} leaves no training images of {n} in {path}"
            )
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(c.split_seed))
        held_idx, train_idx = perm[: c.holdout].sort().values, perm[c.holdout :].sort().values
        held = _take(data, held_idx) if c.holdout else None
        provenance = {
            "source": f"{split} only",
            "train": f"{split} minus holdout" if c.holdout else f"all of {split}",
            "eval": f"seeded holdout of {split}" if c.holdout else "none",
            "split_seed": c.split_seed,
        }
        return _take(data, train_idx), held, provenance


def find_splits(root: Path) -> dict[str, tuple[Path, Path]]:
    """Split -> (images, labels) paths under ``root`` or torchvision's ``root/MNIST/raw``."""
    if not root.is_dir():
        raise UserError(_missing(root, "does not exist"))
    found = {}
    for split, stems in STEMS.items():
        paths = [_find(root, stem) for stem in stems]
        if any(paths) and not all(paths):
            lost = next(s for s, p in zip(stems, paths, strict=True) if p is None)
            raise UserError(
                f"dataset.root: '{root}' has only half of MNIST {split}: no {lost}[.gz]"
            )
        if all(paths):
            found[split] = (paths[0], paths[1])
    if not found:
        raise UserError(_missing(root, "has no MNIST IDX files"))
    return found


def read_split(images_path: Path, labels_path: Path) -> TensorData:
    """One split as uint8 (N, 1, 28, 28) images and int64 labels, checked for consistency."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise UserError(f"{images_path}: expected N x 28 x 28 images, found {images.shape}")
    if labels.ndim != 1 or len(labels) != len(images) or (labels.size and labels.max() > 9):
        raise UserError(f"{labels_path}: expected {len(images)} labels 0-9 for {images_path.name}")
    return TensorData(torch.from_numpy(images)[:, None], torch.from_numpy(labels).long())


def download(root: Path) -> None:
    """Fetch both MNIST splits into ``root/MNIST/raw`` through torchvision (network needed)."""
    try:
        from torchvision.datasets import MNIST as TorchvisionMNIST

        for train in (True, False):
            TorchvisionMNIST(str(root), train=train, download=True)
    except Exception as exc:
        raise UserError(f"dataset.download: could not download MNIST into '{root}': {exc}") from exc


def _find(root: Path, stem: str) -> Path | None:
    for folder in (root, root / "MNIST" / "raw"):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _missing(root: Path, what: str) -> str:
    return (
        f"dataset.root: '{root}' {what} (expected {EXPECTED}); "
        "point dataset.root at a folder holding them or set dataset.download: true"
    )


def _take(data: TensorData, idx: Tensor) -> TensorData:
    return TensorData(data.images[idx], data.labels[idx])


def _resize(data: TensorData, size: int) -> TensorData:
    """Zero-pad 28x28 digits to ``size`` (the usual way to feed MNIST to 32x32 networks)."""
    pad = (size - data.images.shape[-1]) // 2
    if pad == 0:
        return data
    return TensorData(F.pad(data.images, (pad, pad, pad, pad)), data.labels, data.targets)


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [MNIST]
