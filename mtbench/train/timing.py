"""Per-phase step timings: host clocks on the CPU, CUDA events on the GPU.

Only logged steps are timed, so unlogged steps pay nothing and CUDA is synchronised once
per logged step rather than once per phase.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import torch

from mtbench.layout import PHASES


class PhaseTimer:
    """Accumulates seconds per phase for one step; ``read()`` returns them and resets."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self._host: dict[str, float] = defaultdict(float)
        self._events: list[tuple[str, torch.cuda.Event, torch.cuda.Event]] = []

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            yield
            end.record()
            self._events.append((phase, start, end))
        else:
            t0 = time.perf_counter()
            yield
            self._host[phase] += time.perf_counter() - t0

    def read(self) -> dict[str, float]:
        if self.cuda:
            torch.cuda.synchronize()
            for phase, start, end in self._events:
                self._host[phase] += start.elapsed_time(end) / 1000.0
            self._events.clear()
        out = {f"t_{p}": self._host.get(p, 0.0) for p in PHASES}
        out["t_total"] = sum(out.values())
        self._host.clear()
        return out


def no_timer(phase: str) -> nullcontext:
    """Stand-in for PhaseTimer on steps that are not logged."""
    return nullcontext()
