"""shapes data set: seeded and byte-identical, global RNG untouched, info and targets agree
with the pixels, config checks."""

from __future__ import annotations

import pytest
import torch

from mtbench.api import DataSplits, TensorData
from mtbench_plugins.datasets.shapes import Shapes


def load_shapes(**cfg) -> DataSplits:
    return Shapes(Shapes.Config(**cfg)).load()


def join(splits: DataSplits) -> TensorData:
    """Train and eval back together, for checks over the whole data set."""
    a, b = splits.train, splits.eval
    targets = {k: torch.cat([a.targets[k], b.targets[k]]) for k in a.targets}
    return TensorData(torch.cat([a.images, b.images]), torch.cat([a.labels, b.labels]), targets)


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
