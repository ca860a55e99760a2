"""Shared test setup: one torch thread (fast and stable on 2 shared cores) and fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from helpers import MNIST_ROOT

os.environ.setdefault("OMP_NUM_THREADS", "1")  # inherited by subprocesses
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def registry():
    from mtbench.registry import Registry

    return Registry.discover()


@pytest.fixture
def mnist_root() -> Path:
    if not (MNIST_ROOT / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"MNIST test set not found at {MNIST_ROOT}")
    return MNIST_ROOT


@pytest.fixture(autouse=True)
def _decoded_image_cache(tmp_path_factory, monkeypatch):
    """Decoded-image caches of a test session go to one temp folder, never ~/.cache."""
    if "MTBENCH_DATA_CACHE" not in os.environ:
        monkeypatch.setenv("MTBENCH_DATA_CACHE", str(tmp_path_factory.getbasetemp() / "decoded"))
