"""Evaluation speed of a 3-output generator: every output scored vs the image alone.

The generator is the ``multi_output`` plugin as in examples/single_source_multitask.json
(outputs ``image``, ``image_2x``, ``edges``; untrained, so generation costs what that network
costs), on ``mnist_tasks`` (the mnist plugin's 8,000 train / 2,000 eval split of t10k).
Both evaluations draw ``--n`` samples with fid, kid, prc and accuracy; the 3-output one
also scores ``image_2x`` and ``edges`` (``fid/<k>``, ..., ``accuracy/<k>``) and adds
``consistency``. Timed: evaluations after the first, with every domain evaluator and real
statistic cached (the cold prepare is reported separately). The target is under 2.5x the
1-output time: generation happens once, shared by all outputs.

    python benchmarks/bench_outputs_eval.py [--n N] [--rounds R] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from mtbench.api import GeneratorContext
from mtbench.data import to_uint8
from mtbench.evaluate import EvalSpec, Evaluator

MNIST_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
N = 10_000
METRICS = ["fid", "kid", "prc", "accuracy"]
OUTPUTS = ["image", "image_2x", "edges"]


def setup(cache: Path, n: int, outputs: list[str]) -> tuple[Evaluator, object, float]:
    """A prepared Evaluator scoring ``outputs`` (besides the image), the generate function,
    and the seconds prepare took."""
    from mtbench_plugins.datasets.mnist_tasks import MNISTTasks
    from mtbench_plugins.generators.multi_output import MultiOutputGenerator

    plugin = MNISTTasks(MNISTTasks.Config(root=str(MNIST_ROOT), tasks=OUTPUTS[1:]))
    data, info = plugin.load(), plugin.info()
    torch.manual_seed(0)
    cfg = MultiOutputGenerator.Config(z_dim=64, width=32, outputs=OUTPUTS)
    g = MultiOutputGenerator(cfg, GeneratorContext(info)).eval()
    extra = [k for k in outputs if k != "image"]
    metrics = METRICS + (["consistency"] if extra else [])
    spec = EvalSpec(
        metrics=metrics,
        n_samples=n,
        kid_subset_size=min(1000, n - 1),
        cache_dir=str(cache),
        outputs=extra,
    )
    cpu = torch.device("cpu")
    ev = Evaluator(spec, data, info, cpu, 0, outputs=g.outputs(), dataset=plugin)

    @torch.no_grad()
    def generate(labels: torch.Tensor) -> dict[str, torch.Tensor]:
        out = g(torch.randn(len(labels), g.z_dim), labels)
        return {k: to_uint8(v) for k, v in out.items()}

    t0 = time.perf_counter()
    ev.prepare()
    return ev, generate, time.perf_counter() - t0


def timed(ev: Evaluator, generate, rounds: int) -> tuple[float, list[dict]]:
    """Best seconds of ``rounds`` warm evaluations (after one untimed), and the last rows."""
    ev.evaluate(generate, 0)
    best, rows = float("inf"), []
    for i in range(rounds):
        t0 = time.perf_counter()
        rows = ev.evaluate(generate, i + 1)
        best = min(best, time.perf_counter() - t0)
    return best, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N, help=f"generated images (default {N})")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cache-dir", help="reuse a cache folder (default: a fresh temp one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache_dir) if args.cache_dir else Path(tmp)
        print(f"torch threads: {torch.get_num_threads()}, n: {args.n}, cache: {cache}")
        times = {}
        for label, outputs in (("1 output", ["image"]), ("3 outputs", OUTPUTS)):
            ev, generate, t_prep = setup(cache, args.n, outputs)
            t0 = time.perf_counter()
            ev.generate_outputs(generate)
            t_gen = time.perf_counter() - t0
            times[label], rows = timed(ev, generate, args.rounds)
            print(f"{label}: prepare {t_prep:.1f} s, generation alone {t_gen:.2f} s, "
                  f"evaluate {times[label]:.2f} s, {len(rows)} rows")  # fmt: skip
        ratio = times["3 outputs"] / times["1 output"]
        print(f"3 outputs / 1 output: {ratio:.2f}x (target < 2.5x)")
    return 0 if ratio < 2.5 else 1


if __name__ == "__main__":
    sys.exit(main())
