"""fashion_mnist, kmnist, cifar10, image_folder and mnist_tasks, on small files in tmp_path."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_spec
from PIL import Image

from mtbench.api import DataSplits
from mtbench.compose import compose
from mtbench.errors import UserError
from mtbench.spec import resolve
from mtbench.train.loop import Trainer
from mtbench_plugins.datasets.cifar10 import CIFAR10
from mtbench_plugins.datasets.fashion_mnist import FashionMNIST
from mtbench_plugins.datasets.image_folder import ImageFolder
from mtbench_plugins.datasets.kmnist import KMNIST
from mtbench_plugins.datasets.mnist_tasks import MNISTTasks, sobel_edges, upsample_2x

torch.set_num_threads(1)


def max_pool(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.max_pool2d(x, 3, stride=1)


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """An unsigned-byte IDX file, written independently of the reader under test."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    raw = header + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


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


# ----------------------------------------------------------------------------- cifar10


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


class Boom:
    def __reduce__(self):
        return (print, ("pwned",))


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


# ----------------------------------------------------------------------------- image_folder


def write_folder(root: Path, counts: dict[str, int], size=(12, 8), mode="RGB") -> None:
    for k, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        for i in range(n):
            colour = (40 * k, 10 * i, 200) if mode == "RGB" else 40 * k + i
            Image.new(mode, size, colour).save(root / name / f"{i:02d}.png")


def test_image_folder_classes_shapes_and_pixels(tmp_path):
    write_folder(tmp_path, {"cat": 3, "ant": 2, "bee": 5})
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    plugin = ImageFolder(ImageFolder.Config(root=str(tmp_path), size=16, eval_fraction=0.2))
    info, splits = plugin.info(), plugin.load()
    assert (info.channels, info.size, info.num_classes) == (3, 16, 3)
    assert info.class_names == ("ant", "bee", "cat")
    assert (len(splits.train), len(splits.eval)) == (8, 2)
    assert splits.train.images.shape[1:] == (3, 16, 16)
    assert splits.train.images.dtype == torch.uint8 and splits.train.labels.dtype == torch.int64
    images = torch.cat([splits.train.images, splits.eval.images])
    labels = torch.cat([splits.train.labels, splits.eval.labels])
    assert torch.bincount(labels).tolist() == [2, 5, 3]
    # solid images stay solid: red is 40 * (index of the folder as written), blue 200
    written_index = {0: 1, 1: 2, 2: 0}  # ant, bee, cat -> order in write_folder
    for img, lab in zip(images, labels):
        assert (img[0] == 40 * written_index[int(lab)]).all() and (img[2] == 200).all()
    assert splits.provenance["classes"] == ["ant", "bee", "cat"]


def test_image_folder_greyscale_unconditional_and_deterministic(tmp_path):
    write_folder(tmp_path, {"only": 6}, size=(20, 30), mode="L")
    cfg = ImageFolder.Config(root=str(tmp_path), size=8, channels=1, conditional=False)
    a, b = ImageFolder(cfg).load(), ImageFolder(cfg).load()
    assert ImageFolder(cfg).info().num_classes == 0
    assert a.train.labels is None and a.train.images.shape[1:] == (1, 8, 8)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.eval.images, b.eval.images)
    other = ImageFolder(cfg.model_copy(update={"split_seed": 3})).load()
    assert not torch.equal(a.eval.images, other.eval.images)


def test_image_folder_errors_name_the_folder(tmp_path):
    assert ImageFolder.Config(root="x").size == 32
    with pytest.raises(ValueError):
        ImageFolder.Config()  # root is required
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as err:
        ImageFolder(ImageFolder.Config(root=str(missing))).info()
    assert str(missing) in str(err.value)
    with pytest.raises(UserError, match="no class subfolders"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path))).load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty' has no images"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path))).load()
    (tmp_path / "empty" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="broken.png: cannot read"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path))).load()


# ----------------------------------------------------------------------------- mnist_tasks


@pytest.fixture(scope="module")
def tasks_t10k() -> DataSplits:
    from helpers import MNIST_ROOT

    if not (MNIST_ROOT / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"no MNIST test set at {MNIST_ROOT}")
    return MNISTTasks(MNISTTasks.Config(root=str(MNIST_ROOT))).load()


def test_mnist_tasks_declares_its_targets():
    info = MNISTTasks(MNISTTasks.Config(size=32)).info()
    assert (info.channels, info.size, info.num_classes) == (1, 32, 10)
    shapes = {k: (t.kind, t.shape) for k, t in info.targets.items()}
    assert shapes == {
        "image_2x": ("image", (1, 64, 64)),
        "edges": ("image", (1, 32, 32)),
        "inverted": ("image", (1, 32, 32)),
    }
    only = MNISTTasks(MNISTTasks.Config(tasks=["edges"])).info()
    assert list(only.targets) == ["edges"]
    for bad in ([], ["edges", "edges"], ["depth"]):
        with pytest.raises(ValueError):
            MNISTTasks.Config(tasks=bad)


def test_mnist_tasks_targets_on_shared_mnist(tasks_t10k):
    s = tasks_t10k
    assert (len(s.train), len(s.eval)) == (8000, 2000)
    for part in (s.train, s.eval):
        t = part.targets
        assert set(t) == {"image_2x", "edges", "inverted"}
        assert all(v.dtype == torch.uint8 and len(v) == len(part) for v in t.values())
        assert torch.equal(t["inverted"], 255 - part.images)
        assert t["image_2x"].shape[1:] == (1, 56, 56) and t["edges"].shape[1:] == (1, 28, 28)
    x, t = s.train.images[:50].float(), s.train.targets
    # 2x: each 2x2 block averages back to (about) the source pixel; edges sit on the strokes
    pooled = torch.nn.functional.avg_pool2d(t["image_2x"][:50].float(), 2)
    assert (pooled - x).abs().mean() < 10
    # no edge where the 3x3 neighbourhood is flat (e.g. the blank background)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    flat = max_pool(padded) == -max_pool(-padded)
    assert t["edges"][:50][flat].max() == 0 and t["edges"][:50][~flat].float().mean() > 30
    on_stroke_boundary = (x > 0) & (x < 255)
    assert t["edges"][:50].float()[on_stroke_boundary].mean() > 60
    assert s.provenance["tasks"] == ["image_2x", "edges", "inverted"]


def test_mnist_tasks_padded_size_keeps_targets_paired(tasks_t10k, mnist_root):
    s = MNISTTasks(MNISTTasks.Config(root=str(mnist_root), size=32, tasks=["image_2x"])).load()
    assert s.train.targets["image_2x"].shape[1:] == (1, 64, 64)
    assert torch.equal(s.train.images[:, :, 2:30, 2:30], tasks_t10k.train.images)


def test_sobel_edges_by_hand():
    constant = torch.full((2, 3, 9, 9), 170, dtype=torch.uint8)
    assert sobel_edges(constant).max() == 0  # no edges anywhere, borders included
    step = torch.zeros(1, 1, 6, 6, dtype=torch.uint8)
    step[..., 3:] = 255
    edges = sobel_edges(step)[0, 0]
    # d/dx by Sobel on [0, 1]: 1 + 2 + 1 = 4 on both columns beside the step -> 255
    assert edges[:, 2].tolist() == [255] * 6 and edges[:, 3].tolist() == [255] * 6
    assert edges[:, [0, 1, 4, 5]].max() == 0
    ramp = torch.arange(0, 60, 10, dtype=torch.uint8).repeat(6, 1)[None, None]
    # d/dx of a ramp of 10 per column: 4 * 2 * 10 / 255 / 4 * 255 = 20 inside
    assert sobel_edges(ramp)[0, 0, :, 2].tolist() == [20] * 6


def test_upsample_2x_by_hand():
    x = torch.tensor([[[[0, 100], [200, 40]]]], dtype=torch.uint8)
    y = upsample_2x(x)[0, 0]
    assert y.shape == (4, 4)
    assert y[0].tolist() == [0, 25, 75, 100]  # 0.75 / 0.25 weights, clamped at the edges
    assert y[:, 0].tolist() == [0, 50, 150, 200]
    constant = torch.full((1, 1, 5, 5), 77, dtype=torch.uint8)
    assert (upsample_2x(constant) == 77).all()


def test_multi_output_trains_on_mnist_tasks(registry, mnist_root):
    """A few real steps of the single-source multi-task set-up through the core: one
    generator, three outputs, each extra output tied to its task by a reconstruction head."""
    rec = {"type": "reconstruction", "width": 4, "weight": 10.0}
    spec = tiny_spec(
        dataset={"type": "mnist_tasks", "root": str(mnist_root), "holdout": 9000},
        generator={
            "type": "multi_output",
            "z_dim": 8,
            "width": 4,
            "embed_dim": 4,
            "outputs": ["image", "image_2x", "edges"],
        },
    )
    spec["discriminator"]["trunk"]["width"] = 4
    spec["discriminator"]["heads"] += [
        {**rec, "target": "image_2x", "output": "image_2x", "label": "sr"},
        {**rec, "target": "edges", "output": "edges", "label": "edges"},
    ]
    r = resolve(spec, registry)
    device = torch.device("cpu")
    trainer = Trainer(r, compose(r, registry, device), device)
    before = {k: v.clone() for k, v in trainer.G.named_parameters()}
    for _ in range(2):
        d_terms, g_terms = trainer.train_step(False)
    assert set(g_terms) >= {"aux_classifier/ce", "sr/rec_fake", "edges/rec_fake"}
    assert {"sr/rec_real", "edges/rec_real"} <= set(d_terms)
    assert all(torch.isfinite(v) for v in [*d_terms.values(), *g_terms.values()])
    unchanged = [k for k, v in trainer.G.named_parameters() if torch.equal(before[k], v)]
    assert unchanged == []  # the trunk and every branch trained
    batch = trainer.p.source.sample(2, torch.Generator().manual_seed(0))
    assert batch.images["image_2x"].shape == (2, 1, 56, 56)  # paired targets reach the side
    assert batch.images["edges"].min() >= -1 and batch.images["edges"].max() <= 1
