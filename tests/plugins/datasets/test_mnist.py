"""mnist data set: IDX reading, the t10k-only split, plain and gzip files, errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import MNIST_ROOT, write_idx

from mtbench.api import DataSplits
from mtbench.errors import UserError
from mtbench_plugins.datasets.mnist import MNIST

T10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def write_mnist(root: Path, split: str, n: int, compress: bool = False) -> tuple:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    gz = ".gz" if compress else ""
    write_idx(root / f"{split}-images-idx3-ubyte{gz}", images, compress)
    write_idx(root / f"{split}-labels-idx1-ubyte{gz}", labels, compress)
    return images, labels


# ----------------------------------------------------------------------------- mnist


@pytest.fixture(scope="module")
def shared_t10k() -> DataSplits:
    if not (MNIST_ROOT / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"no MNIST test set at {MNIST_ROOT}")
    return MNIST(MNIST.Config(root=str(MNIST_ROOT))).load()


def test_mnist_t10k_only_is_split_8000_2000(shared_t10k):
    s = shared_t10k
    assert len(s.train) == 8000 and len(s.eval) == 2000
    assert s.train.images.shape[1:] == (1, 28, 28) and s.train.images.dtype == torch.uint8
    assert s.train.labels.dtype == torch.int64
    labels = torch.cat([s.train.labels, s.eval.labels])
    assert torch.bincount(labels).tolist() == T10K_COUNTS
    p = s.provenance
    assert p["source"] == "t10k only" and p["train"] == "t10k minus holdout"
    assert (p["n_train"], p["n_eval"], p["split_seed"]) == (8000, 2000, 0)
    assert [Path(f).name for f in p["files"]] == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]


def test_mnist_split_is_deterministic_and_disjoint(shared_t10k):
    again = MNIST(MNIST.Config(root=str(MNIST_ROOT))).load()
    assert torch.equal(again.eval.images, shared_t10k.eval.images)
    other = MNIST(MNIST.Config(root=str(MNIST_ROOT), split_seed=1, holdout=500)).load()
    assert len(other.eval) == 500 and not torch.equal(
        other.eval.images[:500], again.eval.images[:500]
    )
    # disjoint: no eval image occurs in train (MNIST test images are all distinct)
    train = {bytes(x) for x in shared_t10k.train.images.flatten(1).numpy()}
    assert not any(bytes(x) in train for x in shared_t10k.eval.images.flatten(1).numpy())


def test_mnist_plain_files_with_both_splits(tmp_path):
    train_images, train_labels = write_mnist(tmp_path, "train", 30)
    write_mnist(tmp_path, "t10k", 12)
    splits = MNIST(MNIST.Config(root=str(tmp_path), size=32)).load()
    assert len(splits.train) == 30 and len(splits.eval) == 12
    assert splits.provenance["source"] == "train + t10k"
    assert splits.train.images.shape[1:] == (1, 32, 32)
    inner = splits.train.images[:, 0, 2:30, 2:30].numpy()
    assert np.array_equal(inner, train_images)  # zero-padded, not resampled
    assert splits.train.images[:, :, :2].sum() == 0
    assert splits.train.labels.tolist() == train_labels.tolist()


def test_mnist_single_gz_split_with_holdout(tmp_path):
    images, _ = write_mnist(tmp_path, "train", 40, compress=True)
    splits = MNIST(MNIST.Config(root=str(tmp_path), holdout=10)).load()
    assert (len(splits.train), len(splits.eval)) == (30, 10)
    assert splits.provenance["source"] == "train only"
    both = torch.cat([splits.train.images, splits.eval.images])[:, 0].numpy()
    assert sorted(map(bytes, both)) == sorted(map(bytes, images))


def test_mnist_missing_root_names_the_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as err:
        MNIST(MNIST.Config(root=str(missing))).load()
    message = str(err.value)
    assert str(missing) in message and "\n" not in message and "dataset.download" in message


def test_mnist_empty_root_names_the_folder(tmp_path):
    with pytest.raises(UserError, match="no MNIST IDX files") as err:
        MNIST(MNIST.Config(root=str(tmp_path))).load()
    assert str(tmp_path) in str(err.value)


def test_mnist_half_a_split_is_an_error(tmp_path):
    write_mnist(tmp_path, "t10k", 5)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(UserError, match="t10k-labels-idx1-ubyte"):
        MNIST(MNIST.Config(root=str(tmp_path))).load()


@pytest.mark.parametrize("damage", ["magic", "truncated", "gzip"])
def test_mnist_corrupt_file_names_the_file(tmp_path, damage):
    write_mnist(tmp_path, "t10k", 5)
    bad = tmp_path / "t10k-images-idx3-ubyte"
    raw = bad.read_bytes()
    if damage == "magic":
        bad.write_bytes(b"\x00\x00\x0d\x03" + raw[4:])
    elif damage == "truncated":
        bad.write_bytes(raw[:-7])
    else:
        bad.unlink()
        bad = tmp_path / "t10k-images-idx3-ubyte.gz"
        bad.write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(UserError) as err:
        MNIST(MNIST.Config(root=str(tmp_path), holdout=1)).load()
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_mnist_holdout_too_large(tmp_path):
    write_mnist(tmp_path, "t10k", 5)
    with pytest.raises(UserError, match="dataset.holdout"):
        MNIST(MNIST.Config(root=str(tmp_path))).load()


def test_mnist_info_and_no_download_by_default():
    assert MNIST.Config().download is False and MNIST.Config().root == "data/mnist"
    info = MNIST(MNIST.Config(size=32)).info()
    assert (info.channels, info.size, info.num_classes) == (1, 32, 10)
    assert info.class_names == tuple("0123456789")
