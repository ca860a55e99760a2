"""Kuzushiji-MNIST from IDX files in a local folder (MNIST's layout); downloads only if asked."""

from __future__ import annotations

from typing import ClassVar

from mtbench import hookimpl
from mtbench.api import DatasetPlugin
from mtbench_plugins.datasets.idx import IDXConfig, IDXDataset


class KMNIST(IDXDataset):
    """Kuzushiji-MNIST (Clanuwat et al. 2018, "Deep learning for classical Japanese
    literature"): 10 cursive hiragana, 28x28 grey, in MNIST's IDX file names.
    """

    name: ClassVar[str] = "kmnist"
    description: ClassVar[str] = "Kuzushiji-MNIST hiragana from local IDX files; download if asked"
    title: ClassVar[str] = "KMNIST"
    torchvision: ClassVar[str] = "KMNIST"
    # The official romanised class names (kmnist_classmap.csv: o, ki, su, tsu, na, ha, ma, ya,
    # re, wo), one hiragana per class.
    class_names: ClassVar[tuple[str, ...]] = (
        "o",
        "ki",
        "su",
        "tsu",
        "na",
        "ha",
        "ma",
        "ya",
        "re",
        "wo",
    )

    class Config(IDXConfig):
        root: str = "data/kmnist"


@hookimpl
def mtbench_datasets() -> list[type[DatasetPlugin]]:
    return [KMNIST]
