"""StyleGAN's dataset format: a zip (or folder) of images, optional ``dataset.json`` labels.

As written by stylegan2-ada-pytorch's ``dataset_tool.py`` (Karras et al. 2020, "Training
Generative Adversarial Networks with Limited Data") and read like its
``training/dataset.py`` ``ImageFolderDataset``: every file PIL knows, at any depth, in
sorted order; labels from ``dataset.json`` at the top (``{"labels": [[name, label], ...]}``,
or null). Differences: images are centre-cropped and resized to ``size`` like
``image_folder`` (the reference requires them square at the training resolution), only
integer class labels, and they are decoded once into the cache (``mtbench.decode_cache``).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image
from pydantic import Field

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits
from mtbench.decode_cache import Item
from mtbench.errors import UserError
from mtbench_plugins.datasets.decoded import DecodedConfig, decoded_splits
from mtbench_plugins.datasets.label_files import check_range, match_labels, parse_dataset_json

LABELS_FILE = "dataset.json"


class StyleGANZip(DatasetPlugin):
    """A data set in StyleGAN's format: zip or folder of images + optional dataset.json."""

    name: ClassVar[str] = "stylegan_zip"
    description: ClassVar[str] = "a zip or folder in StyleGAN's dataset_tool.py format"

    class Config(DecodedConfig):
        path: str = Field(min_length=1, description="the zip archive or folder")
        conditional: bool = Field(True, description="use dataset.json's labels when present")
        num_classes: int | None = Field(None, ge=1, description="labels must be below it")

    cfg: Config

    def info(self) -> DataInfo:
        c, labels = self.cfg, self._labels
        if labels is None or not c.conditional:
            return DataInfo(c.channels, c.size, 0)
        k = c.num_classes or int(labels.max()) + 1
        return DataInfo(c.channels, c.size, k, tuple(str(i) for i in range(k)))

    def load(self) -> DataSplits:
        c = self.cfg
        items = [self._item(name) for name in self._index[0]]
        labels = self._labels if c.conditional else None
        provenance = {"source": str(self._path), "format": "stylegan dataset_tool"}
        return decoded_splits(items, labels, c, provenance)

    @cached_property
    def _path(self) -> Path:
        return Path(self.cfg.path).expanduser()

    def _item(self, name: str) -> Item:
        if self._path.is_dir():
            return Item(str(self._path / name))
        return Item(str(self._path), name)

    @cached_property
    def _index(self) -> tuple[list[str], str | None]:
        """Sorted image names (posix, relative) and the text of dataset.json, if any."""
        names, read = list_files(self._path)
        known = Image.registered_extensions()
        images = sorted(n for n in names if os.path.splitext(n)[1].lower() in known)
        if not images:
            raise UserError(
                f"dataset.path: '{self._path}' holds no images PIL can read; point it at a "
                "dataset_tool.py zip or a folder of images"
            )
        return images, read(LABELS_FILE) if LABELS_FILE in names else None

    @cached_property
    def _labels(self) -> np.ndarray | None:
        images, text = self._index
        where = f"{self._path}/{LABELS_FILE}"
        by_name = None if text is None else parse_dataset_json(text, where)
        if by_name is None:
            return None
        labels = match_labels(images, by_name, where)
        check_range(labels, where, self.cfg.num_classes)
        return labels


def list_files(path: Path) -> tuple[list[str], Callable[[str], str]]:
    """Every file name under a folder or in a zip (posix, relative), and a reader of one."""
    if path.is_dir():
        names = [
            Path(dirpath, f).relative_to(path).as_posix()
            for dirpath, _, files in os.walk(path)
            for f in files
        ]
        return names, lambda name: (path / name).read_text()
    if not path.is_file():
        raise UserError(
            f"dataset.path: '{path}' does not exist; point it at a dataset_tool.py zip or folder"
        )
    try:
        with zipfile.ZipFile(path) as z:
            names = [i.filename for i in z.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserError(
            f"dataset.path: '{path}' is not a zip archive ({exc}); point it at a zip written "
            "by dataset_tool.py, or at a folder of images"
        ) from None
    return names, lambda name: _read_member(path, name)


def _read_member(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read(name).decode("utf-8", errors="replace")


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [StyleGANZip]
