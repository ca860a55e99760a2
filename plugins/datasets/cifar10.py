"""CIFAR-10 from the official python-pickle batches in a local folder; downloads only when asked.

The python version of CIFAR-10 is a set of pickles, the format its authors publish. Pickles
can run code when loaded, so the reader only lets through what those files contain (dicts,
lists, numbers, bytes and numpy arrays) and refuses anything else; still, point
``dataset.root`` only at the official files.
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from pydantic import Field

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, PluginConfig, TensorData
from mtbench.errors import UserError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]  # numpy's array unpickling functions
_FROMBUFFER = np.zeros(1).__reduce_ex__(5)[0]
# The globals that pickled numpy arrays and byte strings reference; the official batches
# (pickled by Python 2) need only the first three. numpy 2 renamed ``core`` to ``_core``.
SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
    ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
    ("_codecs", "encode"): codecs.encode,
}


class CIFAR10(DatasetPlugin):
    """CIFAR-10 (Krizhevsky 2009, "Learning multiple layers of features from tiny images"):
    60,000 32x32 colour images of 10 classes; the five training batches are the train split
    and ``test_batch`` the eval split.
    """

    name: ClassVar[str] = "cifar10"
    description: ClassVar[str] = "CIFAR-10 from the local python-pickle batches; download if asked"

    class Config(PluginConfig):
        root: str = Field("data/cifar10", description=f"folder holding {FOLDER}/ or its files")
        download: bool = Field(False, description="fetch through torchvision (needs network)")

    cfg: Config

    def info(self) -> DataInfo:
        return DataInfo(3, 32, len(CLASSES), CLASSES)

    def load(self) -> DataSplits:
        root = Path(self.cfg.root).expanduser()
        if self.cfg.download:
            download(root)
        folder = find_folder(root)
        train = concat([read_batch(folder / name) for name in TRAIN_FILES])
        held = read_batch(folder / TEST_FILE)
        provenance = {
            "source": "data_batch_1-5 + test_batch",
            "train": "data_batch_1-5",
            "eval": TEST_FILE,
            "n_train": len(train),
            "n_eval": len(held),
            "folder": str(folder),
        }
        return DataSplits(train, held, provenance)


def find_folder(root: Path) -> Path:
    """The folder holding all six batch files: ``root`` itself or ``root/cifar-10-batches-py``."""
    if not root.is_dir():
        raise UserError(_missing(root, "does not exist"))
    for folder in (root, root / FOLDER):
        present = [(folder / n).is_file() for n in (*TRAIN_FILES, TEST_FILE)]
        if all(present):
            return folder
        if any(present):
            lost = next(n for n, p in zip((*TRAIN_FILES, TEST_FILE), present) if not p)
            raise UserError(
                f"dataset.root: '{folder}' has only some CIFAR-10 batches: no {lost}; "
                "re-download it or set dataset.download: true"
            )
    raise UserError(_missing(root, "has no CIFAR-10 batches"))


def read_batch(path: Path) -> TensorData:
    """One batch file as uint8 (N, 3, 32, 32) images and int64 labels, checked for consistency."""
    batch = _unpickle(path)
    data, labels = _field(batch, "data", path), _field(batch, "labels", path)
    data, labels = np.asarray(data), np.asarray(labels)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise UserError(f"{path}: expected uint8 N x 3072 data, found {data.dtype} {data.shape}")
    if labels.shape != (len(data),) or (labels.size and not 0 <= labels.min() <= labels.max() < 10):
        raise UserError(f"{path}: expected {len(data)} labels 0-9")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return TensorData(images, torch.from_numpy(labels.astype(np.int64)))


def concat(parts: list[TensorData]) -> TensorData:
    return TensorData(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]))


def download(root: Path) -> None:
    """Fetch CIFAR-10 into ``root/cifar-10-batches-py`` through torchvision (network needed)."""
    try:
        from torchvision.datasets import CIFAR10 as TorchvisionCIFAR10

        TorchvisionCIFAR10(str(root), train=True, download=True)
    except Exception as exc:
        raise UserError(
            f"dataset.download: could not download CIFAR-10 into '{root}': {exc}"
        ) from exc


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only; any other global is refused."""

    def find_class(self, module: str, name: str):
        try:
            return SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def _unpickle(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            batch = _BatchUnpickler(f, encoding="bytes").load()
    except Exception as exc:
        raise UserError(f"{path}: not a CIFAR-10 python batch ({exc}); re-download it") from exc
    if not isinstance(batch, dict):
        raise UserError(f"{path}: not a CIFAR-10 python batch (a {type(batch).__name__})")
    return batch


def _field(batch: dict, key: str, path: Path):
    """A batch entry; the official files (pickled by Python 2) have bytes keys."""
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise UserError(f"{path}: no '{key}' entry; not a CIFAR-10 python batch")


def _missing(root: Path, what: str) -> str:
    return (
        f"dataset.root: '{root}' {what} (expected {FOLDER}/ with "
        f"{', '.join(TRAIN_FILES)} and {TEST_FILE}); point dataset.root at the folder "
        "holding them or set dataset.download: true"
    )


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [CIFAR10]
