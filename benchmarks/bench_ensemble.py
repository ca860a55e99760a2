"""Speed of one training step with a 4-discriminator ``ensemble`` head, three ways.

One full step (D step, G step, EMA) through the real core: ``mtbench.spec.resolve`` ->
``mtbench.compose.compose`` -> ``Trainer.train_step(timed=False)``. 28x28 images, batch 64,
DCGAN generator and DCGAN trunks of width 64, 10 classes, the ``ns`` loss:

- ``separate_fused``: 4 complete discriminators with stacked parameters (the default): one
  vmap on CUDA, member by member on the CPU (``--vmap-on-cpu`` forces the vmap there);
- ``separate_looped``: the same 4 discriminators in a Python loop (``fused: false``);
- ``shared_trunk``: 4 linear outputs on one shared trunk.

The data are random uint8 images of MNIST's shape from ``random28``, a data set plugin defined
here and added to the installed ones (step time does not depend on pixel values, and no files
are needed). Variants are timed in interleaved rounds (the order rotating each round), so a
busy machine slows all of them alike; besides wall time we report the main thread's CPU time
(``time.thread_time``), which time spent descheduled does not inflate. One torch thread.

    OMP_NUM_THREADS=1 python benchmarks/bench_ensemble.py [--rounds 15] [--threads 1] [--profile]
    OMP_NUM_THREADS=1 python benchmarks/bench_ensemble.py --spectral-norm    # SN members
    python benchmarks/bench_ensemble.py --device cuda                # the fused vmap path
    OMP_NUM_THREADS=1 pytest benchmarks/bench_ensemble.py            # pytest-benchmark
"""

from __future__ import annotations

import argparse
import statistics
import time
from importlib.metadata import entry_points

import pytest
import torch
from pydantic import Field

from mtbench import hookimpl
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, PluginConfig, TensorData
from mtbench.compose import compose
from mtbench.registry import GROUP, Origin, Registry
from mtbench.spec import resolve
from mtbench.train.loop import Trainer

K = 4
VARIANTS: dict[str, dict] = {
    "separate_fused": {"layout": "separate", "fused": True},
    "separate_looped": {"layout": "separate", "fused": False},
    "shared_trunk": {"layout": "shared_trunk"},
}
TARGETS = [  # (slower, faster, required speed-up)
    ("separate_looped", "separate_fused", 1.3),
    ("separate_looped", "shared_trunk", 1.8),
]


class Random28(DatasetPlugin):
    """Random uint8 28x28 grey images with 10 uniform classes: MNIST's shape, no files."""

    name = "random28"
    description = "random 28x28 images with 10 classes, for benchmarks"

    class Config(PluginConfig):
        n: int = Field(2048, ge=64, description="number of images")

    def info(self) -> DataInfo:
        return DataInfo(1, 28, 10, tuple(str(i) for i in range(10)))

    def load(self) -> DataSplits:
        gen = torch.Generator().manual_seed(0)
        n = self.cfg.n
        images = torch.randint(0, 256, (n, 1, 28, 28), generator=gen, dtype=torch.uint8)
        labels = torch.randint(0, 10, (n,), generator=gen)
        return DataSplits(TensorData(images, labels), None, {"source": "random"})


class BenchPlugins:
    """A pluggy plugin object adding ``random28`` to the installed plugins."""

    @hookimpl
    def mtbench_datasets(self) -> list[type[DatasetPlugin]]:
        return [Random28]


def bench_registry() -> Registry:
    """The installed plugins (as ``Registry.discover`` loads them) plus ``random28``."""
    found = []
    for ep in entry_points(group=GROUP):
        origin = Origin(f"{ep.name} = {ep.value}", "mtbench", "?")
        try:
            found.append((ep.load(), origin, None))
        except Exception as exc:  # a broken plugin elsewhere must not stop the benchmark
            found.append((None, origin, f"{type(exc).__name__}: {exc}"))
    found.append((BenchPlugins(), Origin("bench = bench_ensemble", "benchmarks", "0"), None))
    return Registry(found)


def spec(variant: str, width: int, batch: int, device: str = "cpu", sn: bool = False) -> dict:
    """The run spec of one variant."""
    head = {"type": "ensemble", "k": K, **VARIANTS[variant]}
    if head["layout"] == "separate":
        head["trunk"] = {"type": "dcgan", "width": width, "spectral_norm": sn}
    return {
        "name": f"bench-{variant}",
        "seed": 0,
        "dataset": {"type": "random28"},
        "generator": {"type": "dcgan", "width": width},
        "discriminator": {
            "trunk": {"type": "dcgan", "width": width, "spectral_norm": sn},
            "heads": [head],
        },
        "train": {"batch_size": batch, "device": device},
        "log": {"progress": False},
    }


def build(
    variant: str,
    width: int = 64,
    batch: int = 64,
    registry: Registry | None = None,
    device: str = "cpu",
    sn: bool = False,
) -> Trainer:
    """A Trainer for one variant, built through resolve + compose like ``mtbench run``."""
    registry = registry or bench_registry()
    r = resolve(spec(variant, width, batch, device, sn), registry)
    device = torch.device(device)
    trainer = Trainer.from_spec(r, compose(r, registry, device), device)
    head = trainer.D.heads["ensemble"]
    assert head.fused == (VARIANTS[variant].get("fused", False) and head.cfg.layout == "separate")
    assert trainer.D.uses_trunk == (head.cfg.layout == "shared_trunk")
    return trainer


def measure(trainers: dict[str, Trainer], rounds: int, warmup: int) -> dict[str, dict]:
    """Interleaved rounds of one step per variant: wall and thread-CPU seconds of each."""
    names = list(trainers)
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    for r in range(warmup + rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t_wall, t_cpu = time.perf_counter(), time.thread_time()
            trainers[name].train_step(timed=False)
            if trainers[name].device.type == "cuda":
                torch.cuda.synchronize()
            if r >= warmup:
                cpu[name].append(time.thread_time() - t_cpu)
                wall[name].append(time.perf_counter() - t_wall)
    return {
        n: {"wall": statistics.median(wall[n]), "cpu": statistics.median(cpu[n]), "n": rounds}
        for n in names
    }


KERNELS = {"aten::convolution_backward", "aten::mkldnn_convolution", "aten::_convolution"}
KERNELS |= {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"}


def kernel_share(trainer: Trainer, steps: int = 5) -> str:
    """How much of a step's CPU time the convolution and matrix-multiply kernels take.

    What is left is all that fusing K members can save on this device (per-op overhead,
    elementwise ops), so ``1 / (1 - rest)`` bounds the speed-up any fused layout can reach.
    """
    from torch.profiler import profile

    with profile() as prof:
        for _ in range(steps):
            trainer.train_step(timed=False)
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    heavy = sum(e.self_cpu_time_total for e in events if e.key in KERNELS)
    rest = 1 - heavy / total
    return (
        f"profile of {steps} steps: conv/matmul kernels {100 * (1 - rest):.1f}% of CPU time, "
        f"everything else {100 * rest:.1f}% (a fused layout could be at most "
        f"{1 / (1 - rest):.2f}x faster)"
    )


def report(stats: dict[str, dict]) -> str:
    lines = [f"{'variant':<17} {'median wall ms':>15} {'median CPU ms':>14}"]
    for name, s in stats.items():
        lines.append(f"{name:<17} {1e3 * s['wall']:>15.1f} {1e3 * s['cpu']:>14.1f}")
    lines.append("")
    for slow, fast, need in TARGETS:
        w = stats[slow]["wall"] / stats[fast]["wall"]
        c = stats[slow]["cpu"] / stats[fast]["cpu"]
        ok = "met" if min(w, c) >= need else "NOT met"
        lines.append(f"{fast} vs {slow}: {w:.2f}x wall, {c:.2f}x CPU (target {need}x: {ok})")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- pytest-benchmark


@pytest.fixture(scope="module")
def trainers() -> dict[str, Trainer]:
    torch.set_num_threads(1)
    registry = bench_registry()
    return {v: build(v, registry=registry) for v in VARIANTS}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_ensemble_step(benchmark, trainers, variant):
    torch.set_num_threads(1)
    benchmark.group = "ensemble step, 28x28, batch 64, K=4"
    benchmark.pedantic(
        trainers[variant].train_step, args=(False,), rounds=8, warmup_rounds=2, iterations=1
    )


# ----------------------------------------------------------------------------- script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--spectral-norm", action="store_true", help="SN trunks (as in MT-CGAN)")
    ap.add_argument("--vmap-on-cpu", action="store_true", help="fused members as one vmap")
    ap.add_argument(
        "--profile", action="store_true", help="also profile the looped step: kernel share"
    )
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.vmap_on_cpu:
        from mtbench_plugins.heads.ensemble import EnsembleHead

        EnsembleHead.vmap_devices = ("cpu", "cuda")
    registry = bench_registry()
    args_ = (args.width, args.batch, registry, args.device, args.spectral_norm)
    trainers = {v: build(v, *args_) for v in VARIANTS}
    print(
        f"one D+G step, K={K}, 28x28, batch {args.batch}, width {args.width}, "
        f"spectral norm {'on' if args.spectral_norm else 'off'}, "
        f"torch {torch.__version__}, {args.threads} thread(s), {args.rounds} interleaved rounds, "
        f"device {args.device}, fused = "
        f"{'vmap' if args.device == 'cuda' or args.vmap_on_cpu else 'members one by one'}"
    )
    print(report(measure(trainers, args.rounds, args.warmup)))
    if args.profile and args.device == "cpu":
        print(kernel_share(trainers["separate_looped"]))


if __name__ == "__main__":
    main()
