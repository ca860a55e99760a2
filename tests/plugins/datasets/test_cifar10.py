"""cifar10 data set: the python batches, missing and partial roots, bad batches name the file."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from mtbench.errors import UserError
from mtbench_plugins.datasets.cifar10 import CIFAR10


class Boom:
    def __reduce__(self):
        return (print, ("pwned",))


def write_cifar(folder: Path, n: int = 3) -> dict[str, np.ndarray]:
    """Tiny batches in the official layout: dicts with bytes keys, pickled with protocol 2."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for i, name in enumerate([*(f"data_batch_{k}" for k in range(1, 6)), "test_batch"]):
        data = np.random.default_rng(i).integers(0, 256, (n, 3072), dtype=np.uint8)
        batch = {b"batch_label": name.encode(), b"labels": [(i + j) % 10 for j in range(n)]}
        batch |= {b"data": data, b"filenames": [b"x.png"] * n}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        written[name] = data
    return written


@pytest.mark.parametrize("nested", [True, False])
def test_cifar10_reads_the_python_batches(tmp_path, nested):
    written = write_cifar(tmp_path / "cifar-10-batches-py" if nested else tmp_path)
    plugin = CIFAR10(CIFAR10.Config(root=str(tmp_path)))
    info, splits = plugin.info(), plugin.load()
    assert (info.channels, info.size, info.num_classes) == (3, 32, 10)
    assert info.class_names[0] == "airplane" and info.class_names[9] == "truck"
    assert (len(splits.train), len(splits.eval)) == (15, 3)
    assert splits.train.images.shape[1:] == (3, 32, 32)
    assert splits.train.images.dtype == torch.uint8 and splits.train.labels.dtype == torch.int64
    # row-major 3072 = 1024 red, 1024 green, 1024 blue: channel c, row r, column x
    first = written["data_batch_1"][0]
    image = splits.train.images[0].numpy()
    assert image[1, 2, 5] == first[1024 + 2 * 32 + 5] and image[2, 31, 31] == first[3071]
    assert splits.train.labels[:6].tolist() == [0, 1, 2, 1, 2, 3]
    assert np.array_equal(splits.eval.images.flatten(1).numpy(), written["test_batch"])
    assert splits.eval.labels.tolist() == [5, 6, 7]
    assert splits.provenance["eval"] == "test_batch" and splits.provenance["n_train"] == 15


def test_cifar10_missing_and_partial_roots(tmp_path):
    assert CIFAR10.Config().download is False
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as err:
        CIFAR10(CIFAR10.Config(root=str(missing))).load()
    assert str(missing) in str(err.value) and "dataset.download" in str(err.value)
    with pytest.raises(UserError, match="has no CIFAR-10 batches"):
        CIFAR10(CIFAR10.Config(root=str(tmp_path))).load()
    write_cifar(tmp_path)
    (tmp_path / "data_batch_4").unlink()
    with pytest.raises(UserError, match="no data_batch_4"):
        CIFAR10(CIFAR10.Config(root=str(tmp_path))).load()


@pytest.mark.parametrize("content", ["global", "garbage", "no_data", "bad_shape"])
def test_cifar10_bad_batches_name_the_file(tmp_path, content, capsys):
    write_cifar(tmp_path)
    bad = tmp_path / "data_batch_2"
    if content == "global":
        bad.write_bytes(pickle.dumps({b"data": Boom(), b"labels": []}, protocol=2))
    elif content == "garbage":
        bad.write_bytes(b"not a pickle")
    elif content == "no_data":
        bad.write_bytes(pickle.dumps({b"labels": [1]}, protocol=2))
    else:
        data = np.zeros((2, 100), np.uint8)
        bad.write_bytes(pickle.dumps({b"data": data, b"labels": [1, 2]}, protocol=2))
    with pytest.raises(UserError) as err:
        CIFAR10(CIFAR10.Config(root=str(tmp_path))).load()
    assert str(bad) in str(err.value)
    assert "pwned" not in capsys.readouterr().out  # no code ran while unpickling
