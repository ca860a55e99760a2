"""Any folder of class subfolders of images (PNG, JPEG, ... whatever PIL reads), resized.

``root/<class>/<image>``: classes are the sorted subfolder names, images within a class are
read in sorted order, each centre-cropped to a square and resized to ``size``, so the same
folder always gives the same tensors and the same seeded eval split.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image
from pydantic import Field

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits
from mtbench.decode_cache import Item, Recipe, decode
from mtbench.errors import UserError
from mtbench_plugins.datasets.decoded import DecodedConfig, decoded_splits
from mtbench_plugins.datasets.label_files import Labels, check_range, csv_labels, read_csv


class ImageFolder(DatasetPlugin):
    """A user's own labelled images in the class-subfolder layout of torchvision's
    ImageFolder; centre-crop and bicubic resize as in the usual GAN preprocessing (e.g.
    Karras et al. 2018), decoded once into the cache (``mtbench.decode_cache``). Set
    ``conditional: false`` for an unlabelled set. With ``labels_csv`` the images and their
    labels and targets come from a CSV (``label_files``) instead of class subfolders, so
    multi-attribute sets (CelebA-style) feed the ``attribute`` head.
    """

    name: ClassVar[str] = "image_folder"
    description: ClassVar[str] = "a local folder of class subfolders of images, resized"

    class Config(DecodedConfig):
        root: str = Field(min_length=1, description="folder with one subfolder per class")
        conditional: bool = Field(True, description="use the subfolders as class labels")
        labels_csv: str | None = Field(
            None, min_length=1, description="CSV: path (under root), label, further targets"
        )
        num_classes: int | None = Field(None, ge=1, description="labels must be below it")

    cfg: Config

    def info(self) -> DataInfo:
        c = self.cfg
        if c.labels_csv:
            _, lab = self._from_csv()
            k = len(lab.class_names) if c.conditional else 0
            return DataInfo(c.channels, c.size, k, lab.class_names[:k], lab.target_info)
        classes = tuple(d.name for d in class_folders(Path(c.root).expanduser()))
        if not c.conditional:
            return DataInfo(c.channels, c.size, 0)
        return DataInfo(c.channels, c.size, len(classes), classes)

    def load(self) -> DataSplits:
        c = self.cfg
        root = Path(c.root).expanduser()
        if c.labels_csv:
            items, lab = self._from_csv()
            labels = lab.values if c.conditional else None
            provenance = {"source": str(root), "labels_csv": c.labels_csv}
            return decoded_splits(items, labels, c, provenance, lab.targets)
        folders = class_folders(root)
        files = [(f, k) for k, folder in enumerate(folders) for f in image_files(folder)]
        items = [Item(str(f)) for f, _ in files]
        labels = np.array([k for _, k in files], np.int64) if c.conditional else None
        provenance = {"source": str(root), "classes": [d.name for d in folders]}
        return decoded_splits(items, labels, c, provenance)

    def _from_csv(self) -> tuple[list[Item], Labels]:
        """The images a label CSV names under ``root``, and their labels and targets."""
        c = self.cfg
        root = Path(c.root).expanduser()
        if not root.is_dir():
            raise UserError(f"dataset.root: '{root}' does not exist; point it at the images")
        header, rows = read_csv(Path(c.labels_csv).expanduser())
        missing = [r[0] for r in rows if not (root / r[0]).is_file()]
        if missing:
            raise UserError(
                f"dataset.labels_csv: names {len(missing)} files that are not under '{root}' "
                f"(first: {missing[0]}); fix the paths (relative to dataset.root)"
            )
        lab = csv_labels(header, rows, "dataset.labels_csv")
        check_range(lab.values, "dataset.labels_csv", c.num_classes)
        if c.num_classes:
            lab.class_names = tuple(str(k) for k in range(c.num_classes))
        return [Item(str(root / r[0])) for r in rows], lab


def class_folders(root: Path) -> list[Path]:
    """The sorted, non-hidden subfolders of ``root``; a UserError when there are none."""
    if not root.is_dir():
        raise UserError(
            f"dataset.root: '{root}' does not exist; point dataset.root at a folder holding "
            "one subfolder of images per class"
        )
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not folders:
        raise UserError(
            f"dataset.root: '{root}' has no class subfolders; put the images in "
            f"'{root}/<class name>/' (one subfolder per class, even for a single class)"
        )
    return folders


def image_files(folder: Path) -> list[Path]:
    """Sorted files in ``folder`` with an extension PIL can read; a UserError when none."""
    known = Image.registered_extensions()
    files = sorted(
        f
        for f in folder.iterdir()
        if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in known
    )
    if not files:
        raise UserError(
            f"dataset.root: class folder '{folder}' has no images PIL can read; "
            "add images or remove the folder"
        )
    return files


def read_image(path: Path, size: int, channels: int) -> torch.Tensor:
    """One image as uint8 (channels, size, size): centre-cropped to a square, then resized."""
    array = decode(Item(str(path)), Recipe(size, channels))
    return torch.from_numpy(array.copy())


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [ImageFolder]
