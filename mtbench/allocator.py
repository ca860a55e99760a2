"""Keep freed memory in the process heap (glibc), so training and evaluation stop
page-faulting their tensors back in every step.

By default glibc hands large freed blocks back to the OS; the next batch's tensors of the
same size then page-fault fresh memory in, which on a shared CPU machine costs a lot and
varies by 2x from minute to minute. The ``mtbench`` command calls ``keep_freed_memory()``
at start-up (``MTBENCH_KEEP_FREED_MEMORY=0`` opts out). Measured on the 2-core CI machine
kind: 60 steps of ``examples/mt_cgan_mnist.json`` took 6-11% less wall time in two A/B
pairs, and the domain evaluator's feature benchmark held at 40-46 ms where it ranged
40-100 ms (benchmarks/README.md). The cost: up to 1 GiB of freed memory stays mapped.
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed on 64-bit: smaller blocks use the heap
TRIM_THRESHOLD = 1 << 30  # free heap memory kept before any is returned to the OS


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; True if applied (glibc, not opted out)."""
    if os.environ.get("MTBENCH_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not Linux/glibc: leave the allocator alone
        return False
    mmap_ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    return bool(mmap_ok and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
