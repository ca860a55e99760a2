"""The process group as the rest of mtbench sees it: rank, world size, is_main(), reductions.

A single process is world size 1, never a special case elsewhere: every helper below is
the identity there. Under ``torchrun`` the environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``) says where this process stands; ``start`` joins the process group (NCCL
on CUDA, gloo on the CPU) with a timeout, so a rank that cannot reach the rendezvous or a
dead peer ends the job with one line instead of a hang.

Gradients are averaged here with ``torch.distributed.all_reduce`` on flattened buckets,
not by wrapping the players in ``DistributedDataParallel``: DDP assumes one forward and
one backward per module and step, while a GAN step runs the trunk several times per
player (real and fake, the G step, penalties scoring new images), backpropagates G terms
through D without D's gradients, and gradient-based weightings (GradNorm, PCGrad) take
per-term gradients with ``autograd.grad``; under DDP each of those needs ``no_sync()``
and hand-made reductions anyway. The reduction is DDP's (flattened buckets of about
25 MiB, one ``all_reduce`` each, divided by the world size), done after the player's
backward; what DDP adds beyond that, overlapping the reduction with backward, is lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

import torch
from torch import Tensor

from mtbench.errors import UserError

RANK_SEED_STRIDE = 1_000_003  # a prime: rank streams of nearby seeds never coincide
BUCKET_BYTES = 25 * 2**20  # DDP's default bucket size
TIMEOUT_ENV = "MTBENCH_DIST_TIMEOUT"  # seconds a collective (and the rendezvous) may wait
DEFAULT_TIMEOUT_S = 1800.0  # torch's own default for gloo: room for rank 0 to prepare evaluation

_cpu_group = None  # a gloo group for host-side flags (stop requests) also under NCCL


@dataclass(frozen=True)
class Dist:
    """Where this process stands in a job: global rank, number of ranks, rank on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    def is_main(self) -> bool:
        """Whether this process writes files, shows progress and logs (rank 0)."""
        return self.rank == 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Dist:
        """The torchrun environment, or a single process when it is absent."""
        env = os.environ if env is None else env
        return cls(
            int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))
        )

    # ------------------------------------------------------------------ reductions

    def mean_(self, tensors: Iterable[Tensor | None]) -> float:
        """Average tensors in place across ranks (flattened buckets); returns seconds spent."""
        return self._bucketed(tensors, lambda flat: torch.distributed.all_reduce(flat), True)

    def _bucketed(self, tensors: Iterable[Tensor | None], op, mean: bool = False) -> float:
        """``op`` on each flattened bucket of ``tensors``, results copied back; seconds spent."""
        ts = [t for t in tensors if t is not None]
        if self.world_size == 1 or not ts:
            return 0.0
        t0 = time.perf_counter()
        for bucket in _buckets(ts):
            flat = torch.cat([t.reshape(-1) for t in bucket])
            op(flat)
            if mean:
                flat.div_(self.world_size)
            offset = 0
            for t in bucket:
                t.copy_(flat[offset : offset + t.numel()].view_as(t))
                offset += t.numel()
        return time.perf_counter() - t0

    def mean_grads(self, params: Iterable[Tensor]) -> float:
        """Average the gradients of ``params`` across ranks; returns seconds spent."""
        return self.mean_(p.grad for p in params)

    def any(self, flag: bool) -> bool:
        """Whether ``flag`` is true on any rank (a host-side vote, no device sync)."""
        if self.world_size == 1:
            return flag
        t = torch.tensor([int(flag)], dtype=torch.int32)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX, group=_cpu_group)
        return bool(t.item())

    def all_objects(self, obj) -> list:
        """Every rank's ``obj``, in rank order (pickled through the host group)."""
        if self.world_size == 1:
            return [obj]
        out = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj, group=_cpu_group)
        return out

    def gather(self, t: Tensor) -> Tensor:
        """Every rank's rows of ``t`` concatenated in rank order (same on every rank)."""
        if self.world_size == 1:
            return t
        sizes = self.all_objects(t.shape[0])
        pad = t.new_zeros((max(sizes), *t.shape[1:]))
        pad[: t.shape[0]] = t
        parts = [torch.empty_like(pad) for _ in range(self.world_size)]
        torch.distributed.all_gather(parts, pad.contiguous())
        return torch.cat([p[:n] for p, n in zip(parts, sizes)])

    def broadcast_(self, tensors: Iterable[Tensor]) -> float:
        """Overwrite ``tensors`` with rank 0's values (identical weights at start-up, batch-norm
        running statistics each step as DDP's ``broadcast_buffers``); seconds spent."""
        return self._bucketed(tensors, lambda flat: torch.distributed.broadcast(flat, 0))

    def share(self, n: int) -> tuple[int, int]:
        """(start, count) of this rank's share of ``n`` items, in rank order."""
        base, extra = divmod(n, self.world_size)
        start = self.rank * base + min(self.rank, extra)
        return start, base + (self.rank < extra)


SINGLE = Dist()


def _buckets(ts: list[Tensor]) -> Iterable[list[Tensor]]:
    """Runs of same-dtype, same-device tensors of at most BUCKET_BYTES (one if larger)."""
    bucket: list[Tensor] = []
    size = 0
    for t in ts:
        nbytes = t.numel() * t.element_size()
        same = not bucket or (bucket[0].dtype, bucket[0].device) == (t.dtype, t.device)
        if bucket and (not same or size + nbytes > BUCKET_BYTES):
            yield bucket
            bucket, size = [], 0
        bucket.append(t)
        size += nbytes
    if bucket:
        yield bucket


def rank_seed(seed: int, rank: int) -> int:
    """The seed of one rank's random streams (data indices, noise, labels, augmentation).

    Rank 0 keeps the spec seed, so a one-process run draws exactly what it always did.
    """
    return seed + rank * RANK_SEED_STRIDE


def timeout_s() -> float:
    """How long a collective or the rendezvous may wait (``MTBENCH_DIST_TIMEOUT``)."""
    try:
        return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))
    except ValueError:
        raise UserError(
            f"{TIMEOUT_ENV}: not a number of seconds; unset it or set e.g. 300"
        ) from None


def start(device_kind: str, env: dict[str, str] | None = None) -> Dist:
    """Join the torchrun job described by the environment (nothing to do for one process).

    Pins this rank to ``cuda:LOCAL_RANK`` on CUDA (NCCL), else uses gloo; a rendezvous that
    does not answer within the timeout is one clear line.
    """
    global _cpu_group
    d = Dist.from_env(env)
    if d.world_size == 1 or torch.distributed.is_initialized():
        return d
    backend = "nccl" if device_kind == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(d.local_rank)
    timeout = timedelta(seconds=timeout_s())
    try:
        torch.distributed.init_process_group(backend, timeout=timeout)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        err = UserError(
            f"rank {d.rank} of {d.world_size}: could not join the process group ({first}); "
            f"check MASTER_ADDR/MASTER_PORT or --rdzv-endpoint, or raise {TIMEOUT_ENV}"
        )
        err.every_rank = True  # rank 0 may be the one that is missing: each rank says it
        raise err from None
    _cpu_group = torch.distributed.new_group(backend="gloo", timeout=timeout)
    return d


def stop() -> None:
    """Leave the process group (end of the run), if this process joined one."""
    global _cpu_group
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    _cpu_group = None
