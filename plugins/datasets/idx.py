"""Read IDX files (the MNIST family's format), gzip or plain, with numpy only, and the
folder layout MNIST, Fashion-MNIST and KMNIST share (``IDXDataset``).

Corrupt files become ``UserError`` naming the file, so a bad download reads as one line.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from mtbench.api import DataInfo, DatasetPlugin, DataSplits, PluginConfig, TensorData
from mtbench.errors import UserError

UBYTE = 0x08  # the only element type MNIST-family files use


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array in an IDX file; gzip is detected from the content, not the name."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE or not 1 <= raw[3] <= 4:
        head = raw[:4].hex() or "empty"
        raise UserError(f"{path}: not an unsigned-byte IDX file (magic 0x{head}); re-download it")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: truncated IDX header; re-download it")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise UserError(
            f"{path}: IDX file has {len(raw)} bytes, its header {dims} needs {expected}; "
            "re-download it"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims).copy()  # writable


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it starts with the gzip magic."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path}: cannot read ({exc}); re-download it") from exc


# ----------------------------------------------------------------------------- IDX folders

STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
EXPECTED = " and/or ".join(f"{i}[.gz] + {lab}[.gz]" for i, lab in STEMS.values())


class IDXConfig(PluginConfig):
    """Settings every MNIST-layout data set shares; subclasses set ``root``'s default."""

    root: str
    download: bool = Field(False, description="fetch through torchvision (needs network)")
    size: Literal[28, 32] = Field(28, description="28, or 32 by zero-padding")
    holdout: int = Field(2000, ge=0, description="eval images held out when only one split")
    split_seed: int = 0


class IDXDataset(DatasetPlugin):
    """A 28x28 grey 10-class data set in MNIST's IDX layout, read from a local folder.

    Subclasses name the set (``title``, for messages), torchvision's class of it (also its
    folder, ``root/<torchvision>/raw``) and its class names. With only one split on disk a
    seeded holdout becomes the eval split, and the provenance says so.
    """

    title: ClassVar[str] = ""
    torchvision: ClassVar[str] = ""
    class_names: ClassVar[tuple[str, ...]] = ()
    cfg: IDXConfig

    def info(self) -> DataInfo:
        return DataInfo(1, self.cfg.size, len(self.class_names), self.class_names)

    def load(self) -> DataSplits:
        c = self.cfg
        root = Path(c.root).expanduser()
        if c.download:
            self._download(root)
        found = self._find_splits(root)
        parts = {split: self._read_split(*paths) for split, paths in found.items()}
        files = [str(p) for paths in found.values() for p in paths]
        if len(parts) == 2:
            train, held = parts["train"], parts["t10k"]
            provenance = {"source": "train + t10k", "train": "train files", "eval": "t10k files"}
        else:
            (split,) = parts
            train, held, provenance = self._holdout(split, parts[split], found[split][0])
        train = pad_to(train, c.size)
        held = None if held is None else pad_to(held, c.size)
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
        held = take(data, held_idx) if c.holdout else None
        provenance = {
            "source": f"{split} only",
            "train": f"{split} minus holdout" if c.holdout else f"all of {split}",
            "eval": f"seeded holdout of {split}" if c.holdout else "none",
            "split_seed": c.split_seed,
        }
        return take(data, train_idx), held, provenance

    def _find_splits(self, root: Path) -> dict[str, tuple[Path, Path]]:
        """Split -> (images, labels) paths under ``root`` or torchvision's ``root/<set>/raw``."""
        if not root.is_dir():
            raise UserError(self._missing(root, "does not exist"))
        found = {}
        for split, stems in STEMS.items():
            paths = [_find(root, self.torchvision, stem) for stem in stems]
            if any(paths) and not all(paths):
                lost = next(s for s, p in zip(stems, paths, strict=True) if p is None)
                raise UserError(
                    f"dataset.root: '{root}' has only half of {self.title} {split}: no {lost}[.gz]"
                )
            if all(paths):
                found[split] = (paths[0], paths[1])
        if not found:
            raise UserError(self._missing(root, f"has no {self.title} IDX files"))
        return found

    def _read_split(self, images_path: Path, labels_path: Path) -> TensorData:
        """One split as uint8 (N, 1, 28, 28) images and int64 labels, checked for consistency."""
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise UserError(f"{images_path}: expected N x 28 x 28 images, found {images.shape}")
        top = len(self.class_names) - 1
        if labels.ndim != 1 or len(labels) != len(images) or (labels.size and labels.max() > top):
            raise UserError(
                f"{labels_path}: expected {len(images)} labels 0-{top} for {images_path.name}"
            )
        return TensorData(torch.from_numpy(images)[:, None], torch.from_numpy(labels).long())

    def _download(self, root: Path) -> None:
        """Fetch both splits into ``root/<set>/raw`` through torchvision (network needed)."""
        try:
            import torchvision.datasets

            dataset = getattr(torchvision.datasets, self.torchvision)
            for train in (True, False):
                dataset(str(root), train=train, download=True)
        except Exception as exc:
            raise UserError(
                f"dataset.download: could not download {self.title} into '{root}': {exc}"
            ) from exc

    def _missing(self, root: Path, what: str) -> str:
        return (
            f"dataset.root: '{root}' {what} (expected {EXPECTED}); "
            "point dataset.root at a folder holding them or set dataset.download: true"
        )


def _find(root: Path, torchvision: str, stem: str) -> Path | None:
    for folder in (root, root / torchvision / "raw"):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def take(data: TensorData, idx: Tensor) -> TensorData:
    """The samples at ``idx``: images, labels and every target."""
    labels = None if data.labels is None else data.labels[idx]
    return TensorData(data.images[idx], labels, {k: v[idx] for k, v in data.targets.items()})


def pad_to(data: TensorData, size: int) -> TensorData:
    """Zero-pad 28x28 images to ``size`` (the usual way to feed MNIST to 32x32 networks)."""
    pad = (size - data.images.shape[-1]) // 2
    if pad == 0:
        return data
    return TensorData(F.pad(data.images, (pad, pad, pad, pad)), data.labels, data.targets)
