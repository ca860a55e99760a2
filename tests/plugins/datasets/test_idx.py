"""The IDX family (idx.py) through fashion_mnist and kmnist, on small files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_idx

from mtbench.errors import UserError
from mtbench_plugins.datasets.fashion_mnist import FashionMNIST
from mtbench_plugins.datasets.kmnist import KMNIST

torch.set_num_threads(1)


def write_split(folder: Path, split: str, n: int, compress: bool = False) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    images = np.random.default_rng(n).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    gz = ".gz" if compress else ""
    write_idx(folder / f"{split}-images-idx3-ubyte{gz}", images, compress)
    write_idx(
        folder / f"{split}-labels-idx1-ubyte{gz}", np.arange(n, dtype=np.uint8) % 10, compress
    )
    return images


# ----------------------------------------------------------------------------- IDX family

IDX_SETS = [
    (FashionMNIST, "FashionMNIST", "Fashion-MNIST", ("T-shirt/top", "Ankle boot")),
    (KMNIST, "KMNIST", "KMNIST", ("o", "wo")),
]


@pytest.mark.parametrize("cls,folder,title,ends", IDX_SETS)
def test_idx_set_reads_torchvision_layout_with_both_splits(tmp_path, cls, folder, title, ends):
    raw = tmp_path / folder / "raw"
    train_images = write_split(raw, "train", 20, compress=True)
    write_split(raw, "t10k", 6)
    plugin = cls(cls.Config(root=str(tmp_path), size=32))
    info, splits = plugin.info(), plugin.load()
    assert (info.channels, info.size, info.num_classes) == (1, 32, 10)
    assert (info.class_names[0], info.class_names[-1]) == ends
    assert (len(splits.train), len(splits.eval)) == (20, 6)
    assert splits.provenance["source"] == "train + t10k"
    assert splits.train.images.dtype == torch.uint8 and splits.train.labels.dtype == torch.int64
    assert np.array_equal(splits.train.images[:, 0, 2:30, 2:30].numpy(), train_images)
    assert splits.train.labels.tolist() == [i % 10 for i in range(20)]


@pytest.mark.parametrize("cls,folder,title,ends", IDX_SETS)
def test_idx_set_single_split_is_a_seeded_holdout(tmp_path, cls, folder, title, ends):
    write_split(tmp_path, "t10k", 30)
    a = cls(cls.Config(root=str(tmp_path), holdout=10)).load()
    b = cls(cls.Config(root=str(tmp_path), holdout=10)).load()
    c = cls(cls.Config(root=str(tmp_path), holdout=10, split_seed=1)).load()
    assert (len(a.train), len(a.eval)) == (20, 10)
    assert torch.equal(a.eval.images, b.eval.images)
    assert not torch.equal(a.eval.labels, c.eval.labels)
    assert a.provenance["source"] == "t10k only"


@pytest.mark.parametrize("cls,folder,title,ends", IDX_SETS)
def test_idx_set_errors_name_the_folder_and_the_set(tmp_path, cls, folder, title, ends):
    assert cls.Config().download is False
    assert cls.Config().root == f"data/{cls.name}"
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as err:
        cls(cls.Config(root=str(missing))).load()
    assert str(missing) in str(err.value) and "dataset.download" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match=f"no {title} IDX files"):
        cls(cls.Config(root=str(tmp_path))).load()
    write_split(tmp_path, "train", 3)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    with pytest.raises(UserError, match=f"half of {title} train: no train-images"):
        cls(cls.Config(root=str(tmp_path))).load()


def test_idx_labels_out_of_range_name_the_file(tmp_path):
    write_split(tmp_path, "t10k", 5)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 2, 3, 10], dtype=np.uint8))
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte: expected 5 labels 0-9"):
        KMNIST(KMNIST.Config(root=str(tmp_path), holdout=1)).load()
