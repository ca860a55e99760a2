"""Evaluation speed: FID+KID+PRC+density/coverage+accuracy, 10,000 generated vs 10,000 real.

Real: all 10,000 MNIST t10k images (the domain evaluator trains on the mnist plugin's 8,000
image train split of them, as a run would). Generated: a tiny *untrained* conditional conv net
(label embedding + noise -> 7x7 -> two transposed convs -> 28x28), so generation costs what a
small generator costs. Timed: the second and later evaluations, with the domain evaluator and
real statistics already cached (the cold prepare is reported separately). Checks that those
evaluations push only the 10,000 generated images through the feature extractor, and that
density/coverage's real k-NN radii are computed once (in prepare), not per evaluation.

    python benchmarks/bench_eval.py [--cache-dir DIR] [--n N]   # prints timings
    pytest benchmarks/bench_eval.py                        # pytest-benchmark
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from mtbench.api import DataInfo, DataSplits, TensorData
from mtbench.evaluate import EvalSpec, Evaluator, prdc
from mtbench.evaluate.extractor import DomainFeatureExtractor

MNIST_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
N = 10_000
METRICS = ["fid", "kid", "prc", "dc", "accuracy"]


class TinyGenerator(nn.Module):
    """Untrained stand-in for a conditional generator: (z, label) -> uint8 28x28."""

    def __init__(self, z_dim: int = 64, classes: int = 10) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.embed = nn.Embedding(classes, z_dim)
        self.fc = nn.Linear(z_dim, 64 * 7 * 7)
        self.up = nn.Sequential(
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, labels: Tensor) -> Tensor:
        z = torch.randn(len(labels), self.z_dim, device=labels.device) * self.embed(labels)
        x = self.up(self.fc(z).view(-1, 64, 7, 7))
        return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def setup(cache_dir: Path, n: int = N) -> tuple[Evaluator, TinyGenerator, float]:
    """A prepared Evaluator (cold: trains the evaluator, caches real stats) and its seconds."""
    from mtbench_plugins.datasets.mnist import MNIST

    plugin = MNIST(MNIST.Config(root=str(MNIST_ROOT)))
    data, info = plugin.load(), plugin.info()
    all_real = TensorData(
        torch.cat([data.train.images, data.eval.images]),
        torch.cat([data.train.labels, data.eval.labels]),
    )
    splits = DataSplits(data.train, all_real)  # "eval" = all 10k real images, for speed only
    spec = EvalSpec(
        metrics=METRICS, n_samples=n, kid_subset_size=min(1000, n - 1), cache_dir=str(cache_dir)
    )
    ev = Evaluator(spec, splits, DataInfo(1, 28, 10, info.class_names), torch.device("cpu"), 0)
    torch.manual_seed(0)
    gen = TinyGenerator().eval()
    t0 = time.perf_counter()
    ev.prepare()
    return ev, gen, time.perf_counter() - t0


def count_extracted(fn) -> tuple[object, int, int]:
    """Run ``fn`` counting images through the domain feature extractor and real k-NN radii
    computations (density/coverage)."""
    seen, radii = [], []
    forward, real_radii = DomainFeatureExtractor.forward, prdc.real_radii

    def counting(self, x):
        seen.append(len(x))
        return forward(self, x)

    def counting_radii(x, k=prdc.NEAREST_K):
        radii.append(len(x))
        return real_radii(x, k)

    DomainFeatureExtractor.forward, prdc.real_radii = counting, counting_radii
    try:
        return fn(), sum(seen), len(radii)
    finally:
        DomainFeatureExtractor.forward, prdc.real_radii = forward, real_radii


def test_bench_eval(benchmark, tmp_path):
    ev, gen, _ = setup(tmp_path)
    ev.evaluate(gen, 0)  # first evaluation after prepare
    rows, extracted, radii = count_extracted(lambda: ev.evaluate(gen, 1))
    assert extracted == N and radii == 0  # real features and radii came from the cache
    assert {r["metric"] for r in rows} >= {"fid", "kid", "precision", "coverage", "accuracy"}
    benchmark.pedantic(ev.evaluate, args=(gen, 2), rounds=2, iterations=1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", help="reuse a cache folder (default: a fresh temp one)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--n", type=int, default=N, help=f"generated images (default {N})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache_dir) if args.cache_dir else Path(tmp)
        print(f"torch threads: {torch.get_num_threads()}, cache: {cache}")
        ev, gen, t_prepare = setup(cache, args.n)
        print(f"prepare (evaluator train/load + real stats): {t_prepare:.2f} s")
        t_gen = time.perf_counter()
        with torch.no_grad():
            for labels in ev.labels.split(ev.spec.batch_size):
                gen(labels)
        print(f"generation alone of {args.n}: {time.perf_counter() - t_gen:.2f} s")
        for i in range(args.rounds + 1):
            t0 = time.perf_counter()
            rows, extracted, radii = count_extracted(lambda i=i: ev.evaluate(gen, i))
            dt = time.perf_counter() - t0
            values = ", ".join(f"{r['metric']}={r['value']:.4g}" for r in rows)
            print(f"evaluate #{i + 1}: {dt:.2f} s, images through extractor {extracted}; {values}")
            if extracted != args.n or radii:
                print("FAIL: real features or k-NN radii were recomputed", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
