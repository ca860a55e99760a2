"""Which batch source a run uses: the whole split on the device, or streamed.

``data.source: auto`` (the default) keeps the split on the device when it fits the budget
``data.device_bytes`` (default: a quarter of the free device memory; on the CPU, of the
available RAM) and streams it otherwise; ``memory`` or ``stream`` force one. The choice and
its reason go into spec.json ``meta.data_source``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import torch

from mtbench.api import DataInfo, TensorData
from mtbench.data import BatchSource, Conditions
from mtbench.errors import UserError
from mtbench.stream import StreamSource

if TYPE_CHECKING:
    from mtbench.spec import RunSpec

FREE_FRACTION = 0.25  # of free memory the in-memory source may take by default
PREFETCHED = 2  # batches the stream holds on the device: the one in use and the next


def split_bytes(data: TensorData) -> int:
    """Bytes of a split's images, paired images, labels and targets."""
    tensors = [data.images, *data.targets.values()]
    if data.labels is not None:
        tensors.append(data.labels)
    return sum(t.numel() * t.element_size() for t in tensors)


def free_bytes(device: torch.device) -> int:
    """Free device memory (CUDA), or the RAM available to new allocations (CPU)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def budget(device: torch.device, device_bytes: int | None) -> tuple[int, str]:
    """The in-memory budget in bytes, and where it came from."""
    if device_bytes is not None:
        return device_bytes, "data.device_bytes"
    where = "free device memory" if device.type == "cuda" else "available RAM"
    return int(free_bytes(device) * FREE_FRACTION), f"{FREE_FRACTION:g} of the {where}"


def decide(size: int, limit: int, origin: str, forced: str) -> tuple[str, str]:
    """``("memory" | "stream", reason)`` for a split of ``size`` bytes under ``limit``."""
    if forced != "auto":
        return forced, f"data.source is {forced}"
    relation = "fits" if size <= limit else "exceeds"
    kind = "memory" if size <= limit else "stream"
    return kind, f"the train split ({size} bytes) {relation} the budget ({limit} bytes, {origin})"


def check_batch_fits(data: TensorData, batch_size: int, limit: int, origin: str) -> None:
    """A UserError when the budget cannot hold the batch in use plus the prefetched one."""
    per_batch = split_bytes(data) // max(len(data), 1) * batch_size
    need = PREFETCHED * per_batch
    if limit < need:
        raise UserError(
            f"data.device_bytes: the budget ({limit} bytes, {origin}) cannot hold one batch of "
            f"{batch_size} plus the prefetched one ({need} bytes); raise data.device_bytes to at "
            "least that, or lower train.batch_size"
        )


def make_source(
    data: TensorData,
    info: DataInfo,
    device: torch.device,
    spec: RunSpec,
    rank: int = 0,
    world_size: int = 1,
) -> Conditions:
    """The batch source for ``spec``: in memory or streamed, with its choice recorded. Under
    torchrun a streamed source draws this rank's share of the global batch, from its own
    stream."""
    d, size = spec.data, split_bytes(data)
    per_rank = spec.train.batch_size // world_size
    limit, origin = budget(device, d.device_bytes)
    kind, reason = decide(size, limit, origin, d.source)
    if kind == "memory":
        source = BatchSource(data, info, device, d.hflip)
    else:
        check_batch_fits(data, per_rank, limit, origin)
        source = StreamSource(
            data,
            info,
            device,
            per_rank,
            spec.seed,
            d.workers,
            rank,
            world_size,
            d.hflip,
        )
    source.choice = {"source": kind, "reason": reason, "bytes": size, "budget": limit}
    if kind == "stream":
        source.choice["workers"] = d.workers
    return source
