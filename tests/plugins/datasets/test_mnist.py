"""The built-in data sets: shapes, digits and mnist (IDX reading, splits, errors)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import MNIST_ROOT

from mtbench.api import DataSplits, TensorData
from mtbench.errors import UserError
from mtbench_plugins.datasets.digits import Digits
from mtbench_plugins.datasets.mnist import MNIST
from mtbench_plugins.datasets.shapes import Shapes

T10K_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def load_shapes(**cfg) -> DataSplits:
    return Shapes(Shapes.Config(**cfg)).load()


def join(splits: DataSplits) -> TensorData:
    """Train and eval back together, for checks over the whole data set."""
    a, b = splits.train, splits.eval
    targets = {k: torch.cat([a.targets[k], b.targets[k]]) for k in a.targets}
    return TensorData(torch.cat([a.images, b.images]), torch.cat([a.labels, b.labels]), targets)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """An unsigned-byte IDX file, written independently of the reader under test."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def write_mnist(root: Path, split: str, n: int, compress: bool = False) -> tuple:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = np.arange(n, dtype=np.uint8) % 10
    gz = ".gz" if compress else ""
    write_idx(root / f"{split}-images-idx3-ubyte{gz}", images, compress)
    write_idx(root / f"{split}-labels-idx1-ubyte{gz}", labels, compress)
    return images, labels


# ----------------------------------------------------------------------------- shapes


def test_shapes_same_seed_is_byte_identical_and_other_seed_differs():
    a, b = load_shapes(n=300, size=16), load_shapes(n=300, size=16)
    c = load_shapes(n=300, size=16, seed=1)
    for x, y in [(a.train, b.train), (a.eval, b.eval)]:
        assert torch.equal(x.images, y.images) and torch.equal(x.labels, y.labels)
        assert all(torch.equal(x.targets[k], y.targets[k]) for k in x.targets)
    assert not torch.equal(a.train.images, c.train.images)
    assert a.provenance == b.provenance and a.provenance["seed"] == 0


def test_shapes_does_not_touch_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_shapes(n=50, size=16)
    assert torch.equal(torch.rand(3), expected)


def test_shapes_info_matches_tensors():
    plugin = Shapes(Shapes.Config(n=200, size=16, eval_fraction=0.25))
    info, splits = plugin.info(), plugin.load()
    assert (info.channels, info.size, info.num_classes) == (3, 16, 9)
    assert info.class_names[0] == "red circle" and info.class_names[8] == "blue triangle"
    assert len(splits.train) == 150 and len(splits.eval) == 50
    assert splits.provenance["n_train"] == 150 and splits.provenance["n_eval"] == 50
    for part in (splits.train, splits.eval):
        assert part.images.dtype == torch.uint8 and part.images.shape[1:] == (3, 16, 16)
        assert part.labels.dtype == torch.int64
        assert 0 <= part.labels.min() and part.labels.max() < info.num_classes
        assert set(part.targets) == set(info.targets)
        for name, t in info.targets.items():
            got = part.targets[name]
            assert len(got) == len(part)
            if t.kind == "class":
                assert got.dtype == torch.int64 and got.max() < t.num_classes
            else:
                assert got.dtype == torch.float32 and got.shape[1] == t.dim
                assert got.abs().max() <= 1


def test_shapes_targets_agree_with_pixels():
    data = join(load_shapes(n=600, size=16))
    t = data.targets
    assert torch.equal(data.labels, t["shape"] * 3 + t["colour"])
    lit = data.images.amax(1) > 0  # (N, H, W) non-black pixels
    assert lit.flatten(1).any(1).all()
    per_channel = (data.images.float() * lit[:, None]).sum((2, 3))
    assert torch.equal(per_channel.argmax(1), t["colour"])
    area = lit.flatten(1).sum(1)
    assert area[t["size"] == 0].max() < area[t["size"] == 1].min()
    # the centre of mass of the lit pixels sits near the position target (x: columns, y: rows)
    grid = (torch.arange(16) + 0.5) / 16 * 2 - 1
    cx = (lit.sum(1) * grid).sum(1) / area
    cy = (lit.sum(2) * grid).sum(1) / area
    circles = t["shape"] == 0
    assert torch.allclose(cx[circles], t["position"][circles, 0], atol=0.1)
    assert torch.allclose(cy[circles], t["position"][circles, 1], atol=0.1)


def test_shapes_config_rejects_bad_values():
    with pytest.raises(ValueError):
        Shapes.Config(size=24)
    with pytest.raises(ValueError):
        Shapes.Config(colour="red")


# ----------------------------------------------------------------------------- digits


@pytest.mark.parametrize("size", [16, 32])
def test_digits_shapes_dtypes_and_counts(size):
    plugin = Digits(Digits.Config(size=size))
    info, splits = plugin.info(), plugin.load()
    assert (info.channels, info.size, info.num_classes) == (1, size, 10)
    assert len(splits.train) + len(splits.eval) == 1797 and len(splits.eval) == 180
    assert splits.train.images.shape[1:] == (1, size, size)
    assert splits.train.images.dtype == torch.uint8 and splits.train.labels.dtype == torch.int64
    labels = torch.cat([splits.train.labels, splits.eval.labels])
    assert torch.bincount(labels).tolist() == np.bincount(_sklearn_targets()).tolist()
    assert splits.train.images.max() >= 250  # scaled to the full 0-255 range


def test_digits_split_is_deterministic_and_seeded():
    a, b = Digits(Digits.Config()).load(), Digits(Digits.Config()).load()
    c = Digits(Digits.Config(split_seed=1)).load()
    assert torch.equal(a.eval.images, b.eval.images)
    assert not torch.equal(a.eval.labels, c.eval.labels)


def _sklearn_targets() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().target


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
