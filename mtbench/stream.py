"""A streaming batch source for splits larger than the device budget.

A torch ``DataLoader`` reads whole batches from host arrays (a memory-mapped decoded cache,
or tensors) in worker processes, into pinned memory on CUDA; the next batch is copied to the
device with ``non_blocking`` on a side stream while the step runs. Batch ``k``'s indices
are drawn with replacement from ``numpy.random.default_rng([seed, rank, k])`` in the main
process, so the batches depend on the seed, the rank and ``k`` only: never on the number of
workers, and a resumed run continues the stream exactly (``seek``). This follows the
usual PyTorch input pipeline (``pin_memory`` + ``non_blocking``, as in PyTorch-StudioGAN's
and stylegan2-ada-pytorch's training loops, whose ``InfiniteSampler`` is also endless and
seeded); differences: sampling with replacement (like the in-memory ``BatchSource``) instead
of shuffled epochs, and a seed per batch instead of one per sampler.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from mtbench.api import DataInfo, TensorData
from mtbench.data import Batch, Conditions, hflip, to_float


def batch_indices(seed: int, rank: int, k: int, n: int, size: int) -> np.ndarray:
    """Indices of batch ``k`` of ``rank``: ``size`` draws from ``range(n)``, with replacement,
    then ``size`` more that are each image's horizontal flip (0 or 1, for ``data.hflip``)."""
    rng = np.random.default_rng([seed, rank, k])
    return np.concatenate([rng.integers(0, n, size=size), rng.integers(0, 2, size=size)])


class BatchIndices(Sampler):
    """Endless seeded index batches, starting at batch ``start``; each item is one batch."""

    def __init__(self, n: int, size: int, seed: int, rank: int = 0, start: int = 0) -> None:
        self.n, self.size, self.seed, self.rank, self.start = n, size, seed, rank, start

    def __iter__(self) -> Iterator[np.ndarray]:
        k = self.start
        while True:
            yield batch_indices(self.seed, self.rank, k, self.n, self.size)
            k += 1


class HostArrays(Dataset):
    """Host-side arrays indexed by a whole batch of indices at a time (one read per batch)."""

    def __init__(self, data: TensorData, paired: list[str]) -> None:
        self.arrays = {"image": data.images.numpy()}
        self.arrays |= {k: data.targets[k].numpy() for k in data.targets}
        if data.labels is not None:
            self.arrays["labels"] = data.labels.numpy()
        self.paired = paired

    def __len__(self) -> int:
        return len(self.arrays["image"])

    def __getitem__(self, drawn: np.ndarray) -> dict[str, Tensor]:
        """Rows of every array, in the drawn order (read sorted: memmap-friendly), and flips."""
        idx, flips = np.split(drawn, 2)
        order = np.argsort(idx, kind="stable")
        back = np.empty_like(order)
        back[order] = np.arange(len(idx))
        rows = idx[order]
        out = {
            k: torch.from_numpy(np.ascontiguousarray(a[rows][back])) for k, a in self.arrays.items()
        }
        return out | {"flip": torch.from_numpy(flips.astype(bool))}


class StreamSource(Conditions):
    """Batches of ``batch_size`` streamed by ``workers`` processes, one prefetched on the device.

    ``sample`` with another size (the compose probe) reads synchronously, indexed by ``gen``,
    and leaves the stream untouched.
    """

    def __init__(
        self,
        data: TensorData,
        info: DataInfo,
        device: torch.device,
        batch_size: int,
        seed: int,
        workers: int = 2,
        rank: int = 0,
        world_size: int = 1,
        flip: bool = False,
    ) -> None:
        self._init_conditions(data, info, device)
        self.flip = flip
        self.batch_size, self.seed, self.workers = batch_size, seed, workers
        self.rank, self.world_size = rank, world_size
        self.host = HostArrays(data, self._paired)
        self.start = 0
        self._it: Iterator | None = None
        self._next: dict[str, Tensor] | None = None
        self._cuda = device.type == "cuda"
        self._copy_stream = torch.cuda.Stream(device) if self._cuda else None

    def seek(self, batches: int) -> None:
        """Continue after ``batches`` batches: the next batch is batch ``batches`` of the stream."""
        self.close()
        self.start = batches

    def sample(self, n: int, gen: torch.Generator) -> Batch:
        if n != self.batch_size:
            idx = torch.randint(self.n, (n,), device=gen.device, generator=gen).cpu().numpy()
            return self._batch(self._to_device(self.host[np.concatenate([idx, 0 * idx])]))
        if self._it is None:
            self._it = iter(self._loader())
            self._next = self._prefetch()
        if self._cuda:
            torch.cuda.current_stream(self.device).wait_stream(self._copy_stream)
            for t in self._next.values():
                t.record_stream(torch.cuda.current_stream(self.device))
        ready, self._next = self._next, self._prefetch()
        return self._batch(ready)

    def close(self) -> None:
        """Stop the worker processes (they also stop when the source is garbage-collected)."""
        self._it, self._next = None, None

    def _loader(self) -> DataLoader:
        sampler = BatchIndices(self.n, self.batch_size, self.seed, self.rank, self.start)
        return DataLoader(
            self.host,
            sampler=sampler,
            batch_size=None,
            num_workers=self.workers,
            pin_memory=self._cuda,
            persistent_workers=self.workers > 0,
            prefetch_factor=2 if self.workers > 0 else None,
        )

    def _prefetch(self) -> dict[str, Tensor]:
        host = next(self._it)
        if not self._cuda:
            return host
        with torch.cuda.stream(self._copy_stream):
            return self._to_device(host)

    def _to_device(self, host: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v.to(self.device, non_blocking=True) for k, v in host.items()}

    def _batch(self, rows: dict[str, Tensor]) -> Batch:
        images = {"image": to_float(rows["image"])}
        images |= {k: to_float(rows[k]) for k in self._paired}
        skip = (*self._paired, "image", "labels", "flip")
        targets = {k: v for k, v in rows.items() if k not in skip}
        if self.flip:
            images = hflip(images, rows["flip"])
        return Batch(images, rows.get("labels"), targets)
