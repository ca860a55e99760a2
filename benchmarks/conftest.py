"""Speed benchmarks run on one torch thread: stable on a shared machine, comparable over time."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def registry():
    from mtbench.registry import Registry

    return Registry.discover()
