"""Speed benchmarks run on one torch thread, with freed memory kept in the heap: stable on a
shared machine, comparable over time."""

from __future__ import annotations

import os

import pytest
import torch

from mtbench.allocator import keep_freed_memory

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

keep_freed_memory()  # as the mtbench command does: page faults were the noisiest timings


@pytest.fixture(scope="session")
def registry():
    from mtbench.registry import Registry

    return Registry.discover()
