"""cifar100 data set: the python files, fine labels and coarse targets, missing roots, bad files."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mtbench.errors import UserError
from mtbench_plugins.datasets.cifar100 import CIFAR100


def write_cifar100(folder: Path, n: int = 4) -> dict[str, np.ndarray]:
    """Tiny files in the official layout: dicts with bytes keys, pickled with protocol 2."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, name in enumerate(("train", "test")):
        data = np.random.default_rng(i).integers(0, 256, (n, 3072), dtype=np.uint8)
        batch = {b"data": data, b"fine_labels": [(7 * j + i) % 100 for j in range(n)]}
        batch[b"coarse_labels"] = [((7 * j + i) % 100) // 5 for j in range(n)]
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = data
    names = [f"class{k}".encode() for k in range(100)]
    meta = {b"fine_label_names": names, b"coarse_label_names": [b"s"] * 20}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return written


def test_cifar100_reads_the_official_layout(tmp_path):
    written = write_cifar100(tmp_path / "cifar-100-python")
    plugin = CIFAR100(CIFAR100.Config(root=str(tmp_path)))
    info, splits = plugin.info(), plugin.load()
    assert info.num_classes == 100 and info.class_names[3] == "class3"
    assert info.targets["coarse"].num_classes == 20
    assert (len(splits.train), len(splits.eval)) == (4, 4)
    flat = splits.train.images.reshape(4, -1).numpy()
    assert np.array_equal(flat, written["train"])
    assert splits.train.labels.tolist() == [0, 7, 14, 21]
    assert torch.equal(splits.train.targets["coarse"], splits.train.labels // 5)


def test_cifar100_missing_and_bad_files_are_one_line(tmp_path):
    with pytest.raises(UserError, match="has no CIFAR-100 files"):
        CIFAR100(CIFAR100.Config(root=str(tmp_path))).load()
    write_cifar100(tmp_path)
    assert CIFAR100(CIFAR100.Config(root=str(tmp_path))).info().num_classes == 100
    (tmp_path / "train").write_bytes(b"garbage")
    with pytest.raises(UserError, match="train: not a CIFAR-100 python batch"):
        CIFAR100(CIFAR100.Config(root=str(tmp_path))).load()
