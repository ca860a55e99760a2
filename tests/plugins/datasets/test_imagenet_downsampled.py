"""imagenet32/64: the official npz and pickle batch files, copied once into the cache."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from mtbench.errors import UserError
from mtbench_plugins.datasets.imagenet_downsampled import TRAIN, VAL, ImageNet32, ImageNet64


def write_batches(root: Path, size: int, n: int = 3, pickled: bool = False) -> np.ndarray:
    """Tiny files in the official layout; returns every image, in file order."""
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for i, name in enumerate((*TRAIN, VAL)):
        data = np.random.default_rng(i).integers(0, 256, (n, 3 * size * size), dtype=np.uint8)
        labels = [(i * n + j) % 1000 + 1 for j in range(n)]
        if pickled:
            batch = {"data": data, "labels": labels, "mean": np.zeros(3 * size * size)}
            (root / name).write_bytes(pickle.dumps(batch, protocol=4))
        else:
            np.savez(root / f"{name}.npz", data=data, labels=np.array(labels), mean=np.zeros(3))
        out.append(data.reshape(n, 3, size, size))
    return np.concatenate(out)


@pytest.mark.parametrize("cls, size, pickled", [(ImageNet32, 32, False), (ImageNet64, 64, True)])
def test_reads_the_official_files_once(tmp_path, monkeypatch, cls, size, pickled):
    images = write_batches(tmp_path / "data" / "train", size, pickled=pickled)
    cfg = cls.Config(root=str(tmp_path / "data"), cache_dir=str(tmp_path / "cache"))
    info, splits = cls(cfg).info(), cls(cfg).load()
    assert (info.size, info.num_classes) == (size, 1000)
    assert (len(splits.train), len(splits.eval)) == (30, 3)
    assert np.array_equal(splits.train.images.numpy(), images[:30])
    assert np.array_equal(splits.eval.images.numpy(), images[30:])
    assert splits.train.labels.tolist() == list(range(30))  # 1-based in the files
    from mtbench_plugins.datasets import imagenet_downsampled as m

    monkeypatch.setattr(m, "read_file", None)  # a cache hit reads none of the files
    again = cls(cfg).load()
    assert again.provenance["decoded"] == splits.provenance["decoded"] != "memory"
    assert np.array_equal(again.eval.labels.numpy(), splits.eval.labels.numpy())


def test_missing_files_wrong_size_and_bad_labels_are_one_line(tmp_path):
    with pytest.raises(UserError, match="has no train_data_batch_1"):
        ImageNet32(ImageNet32.Config(root=str(tmp_path))).load()
    write_batches(tmp_path, 32)
    cfg = ImageNet64.Config(root=str(tmp_path), cache_dir=str(tmp_path / "c"))
    with pytest.raises(UserError, match="use the matching data set type"):
        ImageNet64(cfg).load()
    assert not list((tmp_path / "c").glob("*/manifest.json"))  # no half cache
    np.savez(tmp_path / f"{VAL}.npz", data=np.zeros((1, 3072), np.uint8), labels=np.array([0]))
    with pytest.raises(UserError, match="labels must be 1-1000"):
        ImageNet32(cfg).load()
