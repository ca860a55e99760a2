"""Fixtures for the evaluation tests: MNIST t10k through the mnist plugin (8000 train / 2000
eval), one session cache folder so the domain evaluator trains once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers import MNIST_ROOT

from mtbench.api import DataInfo, DataSplits
from mtbench.evaluate.domain import DomainModel, load_or_train
from mtbench.evaluate.extractor import Extractor, domain_extractor
from mtbench.evaluate.spec import DomainRecipe


@pytest.fixture(scope="session")
def mnist() -> tuple[DataSplits, DataInfo]:
    if not (MNIST_ROOT / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST test set not found at {MNIST_ROOT}")
    from mtbench_plugins.datasets.mnist import MNIST

    plugin = MNIST(MNIST.Config(root=str(MNIST_ROOT)))
    return plugin.load(), plugin.info()


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mtbench-cache")


@pytest.fixture(scope="session")
def domain(mnist, cache_dir) -> DomainModel:
    data, info = mnist
    return load_or_train(data.train, info, DomainRecipe(), cache_dir / "domain")


@pytest.fixture(scope="session")
def extractor(domain) -> Extractor:
    return domain_extractor(domain)


@pytest.fixture(scope="session")
def by_class(mnist) -> list[torch.Tensor]:
    """The eval split's images of each digit."""
    data, _ = mnist
    return [data.eval.images[data.eval.labels == k] for k in range(10)]


@pytest.fixture
def real_generator(by_class):
    """A stand-in generator returning random real eval images of the requested labels."""
    g = torch.Generator().manual_seed(1)

    def generate(labels: torch.Tensor) -> torch.Tensor:
        idx = [torch.randint(len(by_class[k]), (), generator=g) for k in labels.tolist()]
        return torch.stack([by_class[k][i] for k, i in zip(labels.tolist(), idx)])

    return generate


@pytest.fixture
def noise_generator():
    """A stand-in generator returning uniform noise images (global RNG: seeded by Evaluator)."""

    def generate(labels: torch.Tensor) -> torch.Tensor:
        return torch.randint(0, 256, (len(labels), 1, 28, 28), dtype=torch.uint8)

    return generate


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache; returns its ``checkpoints`` folder."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"
