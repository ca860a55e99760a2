"""mnist_tasks data set: declared and paired image targets on MNIST, its filters by hand, and
a multi_output run on it."""

from __future__ import annotations

import pytest
import torch
from helpers import tiny_spec

from mtbench.api import DataSplits
from mtbench.compose import compose
from mtbench.spec import resolve
from mtbench.train.loop import Trainer
from mtbench_plugins.datasets.mnist_tasks import MNISTTasks, sobel_edges, upsample_2x


def max_pool(x: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.max_pool2d(x, 3, stride=1)


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
    trainer = Trainer.from_spec(r, compose(r, registry, device), device)
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


def test_mnist_tasks_derive_rebuilds_its_targets_exactly(tasks_t10k, mnist_root):
    plugin = MNISTTasks(MNISTTasks.Config(root=str(mnist_root)))
    held = tasks_t10k.eval
    for task in ("image_2x", "edges", "inverted"):
        assert torch.equal(plugin.derive(held.images, task), held.targets[task])
    assert plugin.derive(held.images[:2], "depth") is None
