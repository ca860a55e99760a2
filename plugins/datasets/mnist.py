"""MNIST from the standard IDX files in a local folder; downloads only when asked.

With only one split on disk (e.g. the 10,000-image test set) a seeded holdout becomes the
eval split, and the provenance says so, so no score is silently taken on training images.
"""

from __future__ import annotations

from typing import ClassVar

from mtbench import hookimpl
from mtbench.api import DatasetPlugin
from mtbench_plugins.datasets.idx import IDXConfig, IDXDataset


class MNIST(IDXDataset):
    """Handwritten digits 0-9 (LeCun et al. 1998), 28x28 grey (or zero-padded to 32x32)."""

    name: ClassVar[str] = "mnist"
    description: ClassVar[str] = "MNIST digits from local IDX files (root); download only if asked"
    title: ClassVar[str] = "MNIST"
    torchvision: ClassVar[str] = "MNIST"
    class_names: ClassVar[tuple[str, ...]] = tuple(str(d) for d in range(10))

    class Config(IDXConfig):
        root: str = "data/mnist"


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [MNIST]
