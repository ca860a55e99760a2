"""Fashion-MNIST from IDX files in a local folder (MNIST's layout); downloads only when asked."""

from __future__ import annotations

from typing import ClassVar

from mtbench import hookimpl
from mtbench.api import DatasetPlugin
from mtbench_plugins.datasets.idx import IDXConfig, IDXDataset


class FashionMNIST(IDXDataset):
    """Zalando's Fashion-MNIST (Xiao et al. 2017, "Fashion-MNIST: a novel image dataset for
    benchmarking machine learning algorithms"): 10 clothing classes, 28x28 grey, in MNIST's
    IDX file names, so a drop-in harder MNIST.
    """

    name: ClassVar[str] = "fashion_mnist"
    description: ClassVar[str] = "Fashion-MNIST clothing from local IDX files; download if asked"
    title: ClassVar[str] = "Fashion-MNIST"
    torchvision: ClassVar[str] = "FashionMNIST"
    class_names: ClassVar[tuple[str, ...]] = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )

    class Config(IDXConfig):
        root: str = "data/fashion_mnist"


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [FashionMNIST]
