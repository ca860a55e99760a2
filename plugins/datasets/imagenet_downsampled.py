"""Downsampled ImageNet (``imagenet32``, ``imagenet64``) from the official batch files.

Chrabaszcz, Loshchilov and Hutter 2017, "A Downsampled Variant of ImageNet as an Alternative
to the CIFAR datasets": ``train_data_batch_1`` ... ``train_data_batch_10`` and ``val_data``,
each ``.npz`` (or the pickled version without extension, read with CIFAR-10's restricted
unpickler), holding ``data`` (N, 3 * S * S) uint8 in CIFAR's channel-plane order and
``labels`` 1-1000. They are copied once into the decoded-image cache
(``mtbench.decode_cache``, keyed by the files' paths, sizes and mtimes), so later runs
memory-map them and a set larger than the device streams. Labels become 0-999; the
training files are the train split, ``val_data`` the eval split.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from pydantic import Field

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, PluginConfig, TensorData
from mtbench.decode_cache import Decoded, cache_root, cached_array, file_key, read_cached
from mtbench.errors import UserError
from mtbench_plugins.datasets import cifar10

CLASSES = 1000
TRAIN = tuple(f"train_data_batch_{i}" for i in range(1, 11))
VAL = "val_data"


class ImageNet32(DatasetPlugin):
    """ImageNet 32x32 (1,281,167 train, 50,000 val images of 1,000 classes)."""

    name: ClassVar[str] = "imagenet32"
    description: ClassVar[str] = "downsampled ImageNet 32x32 from the official batch files"
    size: ClassVar[int] = 32

    class Config(PluginConfig):
        root: str = Field(min_length=1, description="folder holding the batch files (any depth)")
        cache_dir: str | None = Field(None, min_length=1, description="default: decode cache")

    cfg: Config

    def info(self) -> DataInfo:
        names = tuple(str(k) for k in range(CLASSES))
        return DataInfo(3, self.size, CLASSES, names)

    def load(self) -> DataSplits:
        files = find_files(Path(self.cfg.root).expanduser())
        root, key = cache_root(self.cfg.cache_dir), file_key(files, {"format": self.name})
        hit = read_cached(root, key)
        d, counts = (hit[0], hit[1]["counts"]) if hit else self._build(files, root, key)
        n_train, all_labels = sum(counts[:-1]), d.labels
        provenance = {"source": str(files[0].parent), "train": "train_data_batch_1-10"}
        provenance |= {"eval": VAL, "n_train": n_train, "n_eval": counts[-1], "decoded": d.where}
        return DataSplits(
            _part(d.images, all_labels, 0, n_train),
            _part(d.images, all_labels, n_train, len(all_labels)),
            provenance,
        )

    def _build(self, files: list[Path], root: Path, key: str) -> tuple[Decoded, list[int]]:
        """Copy every file's images into the cache (first use); labels read from the files."""
        labels = [read_labels(f) for f in files]
        counts = [len(x) for x in labels]
        all_labels = np.concatenate(labels)
        shape = (len(all_labels), 3, self.size, self.size)
        manifest = {"format": self.name, "counts": counts}
        fill = lambda path: copy_into(path, files, counts, self.size)  # noqa: E731
        return cached_array(key, shape, all_labels, root, manifest, fill), counts


class ImageNet64(ImageNet32):
    """ImageNet 64x64 (the same images and labels as ``imagenet32``, at 64x64)."""

    name: ClassVar[str] = "imagenet64"
    description: ClassVar[str] = "downsampled ImageNet 64x64 from the official batch files"
    size: ClassVar[int] = 64


def find_files(root: Path) -> list[Path]:
    """The ten training files then ``val_data`` (``.npz`` or pickles), found under ``root``."""
    if not root.is_dir():
        raise UserError(f"dataset.root: '{root}' does not exist; point it at the batch files")
    found = []
    for name in (*TRAIN, VAL):
        hits = sorted(p for p in root.rglob(f"{name}*") if p.name in (name, f"{name}.npz"))
        if not hits:
            raise UserError(
                f"dataset.root: '{root}' has no {name}(.npz); put all of train_data_batch_1-10 "
                "and val_data of the official download there"
            )
        found.append(hits[0])
    return found


def read_file(path: Path, key: str) -> np.ndarray:
    """One entry of a batch file, ``.npz`` (never pickles) or the pickled version."""
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                return np.asarray(z[key])
        return np.asarray(cifar10._field(cifar10._unpickle(path), key, path))
    except UserError as exc:
        raise UserError(str(exc).replace("CIFAR-10", "downsampled ImageNet")) from None
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(
            f"{path}: not a downsampled ImageNet batch ({exc}); re-download it"
        ) from None


def read_labels(path: Path) -> np.ndarray:
    """Labels 0-999 (the files store 1-1000)."""
    labels = read_file(path, "labels").astype(np.int64).reshape(-1) - 1
    if labels.size and not 0 <= labels.min() <= labels.max() < CLASSES:
        raise UserError(f"{path}: labels must be 1-{CLASSES}; re-download this file")
    return labels


def copy_into(out: str, files: list[Path], counts: list[int], size: int) -> None:
    """Write each file's images, in order, into the memmap at ``out``."""
    images, start = np.load(out, mmap_mode="r+"), 0
    for path, n in zip(files, counts):
        data = read_file(path, "data")
        if data.dtype != np.uint8 or data.shape != (n, 3 * size * size):
            raise UserError(
                f"{path}: expected uint8 {n} x {3 * size * size} data for {size}x{size} "
                f"images, found {data.dtype} {data.shape}; use the matching data set type"
            )
        images[start : start + n] = data.reshape(n, 3, size, size)
        start += n
    images.flush()


def _part(images: np.ndarray, labels: np.ndarray, a: int, b: int) -> TensorData:
    return TensorData(torch.from_numpy(images[a:b]), torch.from_numpy(labels[a:b].copy()))


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [ImageNet32, ImageNet64]
