"""mtbench's training step vs the same networks driven by a plain hand-written PyTorch loop.

Both steps use the very modules ``compose`` builds from ``examples/mt_cgan_mnist.json``
(generator, shared trunk, ensemble / aux-classifier / reconstruction heads) and the same
uncertainty weighting form; the plain loop hand-codes batching, the one trunk pass,
the weighted sums, backward, Adam and EMA. The gap is mtbench's orchestration overhead.

    OMP_NUM_THREADS=1 python benchmarks/bench_overhead.py [--rounds 30] [--batch 64]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from plain_loop import PlainLoop

from mtbench import spec as S
from mtbench.compose import compose
from mtbench.registry import Registry
from mtbench.train.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO.parent / "shared" / "data" / "mnist"


def build(batch: int) -> Trainer:
    data = json.loads((REPO / "examples" / "mt_cgan_mnist.json").read_text())
    data["dataset"]["root"] = str(MNIST)
    data["eval"] = {"metrics": []}
    data["train"].update(batch_size=batch, device="cpu")
    registry = Registry.discover()
    r = S.resolve(data, registry)
    torch.manual_seed(0)
    return Trainer.from_spec(r, compose(r, registry, torch.device("cpu")), torch.device("cpu"))


def uncertainty_loop(t: Trainer) -> PlainLoop:
    """The plain loop with the classification uncertainty form, exp(-s_i) L_i + s_i / 2, by hand."""
    s_d = torch.zeros(len(t.p.d_weighting.base), requires_grad=True)
    s_g = torch.zeros(len(t.p.g_weighting.base), requires_grad=True)

    def uncertainty(s: torch.Tensor):
        return lambda terms: sum(
            torch.exp(-s[i]) * v + 0.5 * s[i] for i, v in enumerate(terms.values())
        )

    return PlainLoop(t, uncertainty(s_d), uncertainty(s_g), (s_d,), (s_g,))


def time_steps(step, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        out.append(time.perf_counter() - t0)
    return out


def compare(rounds: int, batch: int) -> dict[str, float]:
    """Interleaved rounds of both steps, so machine noise hits them alike; medians in ms."""
    torch.set_num_threads(1)
    trainer = build(batch)
    plain = uncertainty_loop(trainer)
    for _ in range(3):
        trainer.train_step(False)
        plain.step()
    ours, theirs = [], []
    for _ in range(rounds):
        ours += time_steps(lambda: trainer.train_step(False), 1)
        theirs += time_steps(plain.step, 1)
    m, p = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
    return {"mtbench_ms": m, "plain_ms": p, "ratio": m / p}


def test_mtbench_step_vs_plain_loop(benchmark):
    """pytest-benchmark entry: times mtbench's step; the plain loop's median is in extra_info."""
    torch.set_num_threads(1)
    trainer = build(64)
    plain = uncertainty_loop(trainer)
    theirs = time_steps(plain.step, 10)
    benchmark.extra_info["plain_median_ms"] = statistics.median(theirs) * 1e3
    benchmark.pedantic(lambda: trainer.train_step(False), rounds=10, warmup_rounds=2)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--batch", type=int, default=64)
    res = compare(**vars(ap.parse_args()))
    print(
        f"mt_cgan_mnist step, batch 64, 1 thread: mtbench {res['mtbench_ms']:.1f} ms, "
        f"plain loop {res['plain_ms']:.1f} ms, ratio {res['ratio']:.3f}"
    )
