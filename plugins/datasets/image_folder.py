"""Any folder of class subfolders of images (PNG, JPEG, ... whatever PIL reads), resized.

``root/<class>/<image>``: classes are the sorted subfolder names, images within a class are
read in sorted order, each centre-cropped to a square and resized to ``size``, so the same
folder always gives the same tensors and the same seeded eval split.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import Field

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, PluginConfig, TensorData
from mtbench.errors import UserError

MODES = {1: "L", 3: "RGB"}


class ImageFolder(DatasetPlugin):
    """A user's own labelled images in the class-subfolder layout of torchvision's
    ImageFolder; centre-crop and bicubic resize as in the usual GAN preprocessing (e.g.
    Karras et al. 2018). Set ``conditional: false`` for an unlabelled set.
    """

    name: ClassVar[str] = "image_folder"
    description: ClassVar[str] = "a local folder of class subfolders of images, resized"

    class Config(PluginConfig):
        root: str = Field(min_length=1, description="folder with one subfolder per class")
        size: int = Field(32, ge=4, le=512, description="side of the square images")
        channels: Literal[1, 3] = Field(3, description="1 (greyscale) or 3 (RGB)")
        conditional: bool = Field(True, description="use the subfolders as class labels")
        eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)
        split_seed: int = 0

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
        images = torch.stack([read_image(f, c.size, c.channels) for f, _ in files])
        labels = torch.tensor([k for _, k in files], dtype=torch.int64)
        n = len(files)
        n_eval = min(round(n * c.eval_fraction), n - 1)
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(c.split_seed))
        held_idx, train_idx = perm[:n_eval].sort().values, perm[n_eval:].sort().values
        train = _part(images, labels, train_idx, c.conditional)
        held = _part(images, labels, held_idx, c.conditional) if n_eval else None
        provenance = {
            "source": str(root),
            "classes": [d.name for d in folders],
            "resize": f"centre crop, bicubic to {c.size}x{c.size}, {MODES[c.channels]}",
            "split_seed": c.split_seed,
            "n_train": n - n_eval,
            "n_eval": n_eval,
        }
        return DataSplits(train, held, provenance)


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
    try:
        with warnings.catch_warnings():  # past PIL's pixel limit is an error, never a warning
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img).convert(MODES[channels])
                img = ImageOps.fit(img, (size, size), method=Image.Resampling.BICUBIC)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserError(f"{path}: {exc}; shrink or remove this image") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise UserError(f"{path}: cannot read this image ({exc}); fix or remove it") from exc
    array = np.asarray(img, dtype=np.uint8).reshape(size, size, channels)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).contiguous()


def _part(images: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor, labelled: bool):
    return TensorData(images[idx], labels[idx] if labelled else None)


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [ImageFolder]
