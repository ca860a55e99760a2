"""digits data set (scikit-learn's 8x8 digits, upscaled): shapes, dtypes, counts, seeded split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtbench_plugins.datasets.digits import Digits


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
