"""Speed benchmarks run on one torch thread, with freed memory kept in the heap: stable on a
shared machine, comparable over time."""

from __future__ import annotations

import ctypes
import os

import pytest
import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")
torch.set_num_threads(1)

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters


def keep_freed_memory() -> None:
    """Keep freed blocks in the heap instead of handing them back to the OS (glibc only).

    By default glibc returns large freed tensors to the OS, so the next batch page-faults
    its memory in again; what a page fault costs on a shared machine varies by 2x from
    minute to minute. Measured on the 2-core CI machine kind: the evaluator-features
    minimum ranged 40-100 ms by default and held at 39-42 ms with this. Both limits are
    glibc's maxima for 64-bit (32 MiB mmap threshold); elsewhere nothing changes.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)


keep_freed_memory()


@pytest.fixture(scope="session")
def registry():
    from mtbench.registry import Registry

    return Registry.discover()
