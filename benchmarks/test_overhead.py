"""Overhead gate: mtbench's training step vs the very same networks in a plain PyTorch loop.

Both steps are timed in interleaved rounds in one process (process CPU time, one torch
thread), so whatever slows the machine slows both; their ratio is what mtbench's own code
costs per step, and it is stable where absolute timings on a shared machine are not. The
specs are the quickstart (coloured shapes: no files needed) and the ``resnet`` and
``biggan`` networks of ``recipes/cifar10/projgan.json`` and ``biggan.json`` (batch 64, 32 px
shapes instead of CIFAR-10, one D step per G step as the plain loop takes, widths narrowed
so the gate stays short on a CPU); the plain loop is ``plain_loop.PlainLoop`` with the
spec's fixed weights. Fails when mtbench's step is more than ``MAX_RATIO`` times the plain
one.

    OMP_NUM_THREADS=1 pytest benchmarks/test_overhead.py -s
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import pytest
import torch
from plain_loop import PlainLoop

from mtbench.compose import compose
from mtbench.spec import resolve
from mtbench.train.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
ROUNDS, WARMUP = 80, 5
RECIPE_ROUNDS = 10  # their steps are 4-12x the quickstart's: fewer rounds keep CI short
# recipe -> narrowed widths (generator, trunk): the layouts stay, the gate stays short
RECIPES = {"resnet": ("projgan", 8, 16), "biggan": ("biggan", 8, 8)}
MAX_RATIO = 1.15  # measured 0.97-1.06 on a 2-core CPU (80 rounds); the rest is headroom for noise


def quickstart_trainer(registry) -> Trainer:
    data = json.loads((REPO / "examples" / "quickstart.json").read_text())
    data["train"].update(device="cpu", threads=1)
    data["log"]["progress"] = False
    data["eval"] = {"metrics": []}
    r = resolve(data, registry)
    torch.manual_seed(r.spec.seed)
    return Trainer.from_spec(r, compose(r, registry, CPU), CPU)


def recipe_trainer(registry, recipe: str, g_width: int, d_width: int) -> Trainer:
    """A recipe's networks, heads and optimizer on 32 px shapes, batch 64, one D step."""
    data = json.loads((REPO / "recipes" / "cifar10" / f"{recipe}.json").read_text())
    data["dataset"] = {"type": "shapes", "size": 32, "n": 256}
    data["generator"]["width"] = g_width
    data["discriminator"]["trunk"]["width"] = d_width
    data["train"].update(device="cpu", threads=1, batch_size=64, d_steps=1, ema_decay=0.999)
    data["log"]["progress"] = False
    data["eval"] = {"metrics": []}
    r = resolve(data, registry)
    torch.manual_seed(r.spec.seed)
    return Trainer.from_spec(r, compose(r, registry, CPU), CPU)


def interleaved(steps: dict[str, callable], rounds: int, warmup: int) -> dict[str, float]:
    """Median process-CPU seconds per call of each step, the order alternating each round."""
    names, times = list(steps), {n: [] for n in steps}
    for r in range(warmup + rounds):
        for name in names if r % 2 else names[::-1]:
            t0 = time.process_time()
            steps[name]()
            if r >= warmup:
                times[name].append(time.process_time() - t0)
    return {n: statistics.median(v) for n, v in times.items()}


def gate(trainer: Trainer, name: str, rounds: int, record_property) -> None:
    """Time both steps interleaved and fail when mtbench's costs more than MAX_RATIO."""
    torch.set_num_threads(1)
    plain = PlainLoop(trainer)
    med = interleaved(
        {"mtbench": lambda: trainer.train_step(False), "plain": plain.step}, rounds, WARMUP
    )
    ratio = med["mtbench"] / med["plain"]
    report = (
        f"{name} step, 1 thread: mtbench {1e3 * med['mtbench']:.1f} ms, "
        f"plain loop {1e3 * med['plain']:.1f} ms, ratio {ratio:.3f} (limit {MAX_RATIO})"
    )
    record_property("overhead", report)
    print(report)
    assert ratio <= MAX_RATIO, report


def test_mtbench_step_costs_no_more_than_a_plain_loop(registry, record_property):
    gate(quickstart_trainer(registry), "quickstart", ROUNDS, record_property)


@pytest.mark.parametrize("network", RECIPES)
def test_residual_networks_cost_no_more_than_a_plain_loop(registry, record_property, network):
    trainer = recipe_trainer(registry, *RECIPES[network])
    gate(trainer, f"{network} ({RECIPES[network][0]} recipe)", RECIPE_ROUNDS, record_property)
