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


class ImageFolder(DatasetPlugin):
    """A user's own labelled images in the class-subfolder layout of torchvision's
    ImageFolder; centre-crop and bicubic resize as in the usual GAN preprocessing (e.g.
    Karras et al. 2018), decoded once into the cache (``mtbench.decode_cache``). Set
    ``conditional: false`` for an unlabelled set.
    """

    name: ClassVar[str] = "image_folder"
    description: ClassVar[str] = "a local folder of class subfolders of images, resized"

    class Config(DecodedConfig):
        root: str = Field(min_length=1, description="folder with one subfolder per class")
        conditional: bool = Field(True, description="use the subfolders as class labels")

    cfg: Config

    def info(self) -> DataInfo:
        c = self.cfg
        classes = tuple(d.name for d in class_folders(Path(c.root).expanduser()))
        if not c.conditional:
            return DataInfo(c.channels, c.size, 0)
        return DataInfo(c.channels, c.size, len(classes), classes)

    def load(self) -> DataSplits:
        c = self.cfg
        root = Path(c.root).expanduser()
        folders = class_folders(root)
        files = [(f, k) for k, folder in enumerate(folders) for f in image_files(folder)]
        items = [Item(str(f)) for f, _ in files]
        labels = np.array([k for _, k in files], np.int64) if c.conditional else None
        provenance = {"source": str(root), "classes": [d.name for d in folders]}
        return decoded_splits(items, labels, c, provenance)


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
