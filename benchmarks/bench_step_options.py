"""Step time of ``mt_cgan_mnist`` with ``train.channels_last`` and ``train.compile`` on or off.

Builds one trainer per setting (as ``mtbench run`` applies them), warms each up (compile
happens there), then times rounds of steps alternating between settings; prints medians.

    OMP_NUM_THREADS=1 python benchmarks/bench_step_options.py [--device cuda] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from mtbench import spec as S
from mtbench.compose import compose
from mtbench.registry import Registry
from mtbench.train.loop import Trainer
from mtbench.train.run import channels_last, resolve_device

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO.parent / "shared" / "data" / "mnist"
SETTINGS = {"eager": {}, "channels_last": {"channels_last": True}, "compile": {"compile": True}}


def build(device: str, batch: int, options: dict) -> Trainer:
    data = json.loads((REPO / "examples" / "mt_cgan_mnist.json").read_text())
    data["dataset"]["root"] = str(MNIST)
    data["eval"] = {"metrics": []}
    data["train"].update(batch_size=batch, device=device, **options)
    registry = Registry.discover()
    r = S.resolve(data, registry)
    dev = resolve_device(device)
    torch.manual_seed(0)
    parts = compose(r, registry, dev)
    if options.get("channels_last"):
        channels_last(parts.generator)
        channels_last(parts.discriminator)
    t = Trainer.from_spec(r, parts, dev)
    if options.get("compile"):
        t.G.compile()
        t.D.trunk.compile()
    return t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=10, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = p.parse_args()
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    trainers = {}
    for name in args.only:
        t0 = time.perf_counter()
        trainers[name] = t = build(args.device, args.batch, SETTINGS[name])
        for _ in range(3):
            t.train_step(False)
        sync()
        print(f"{name}: built and warmed up in {time.perf_counter() - t0:.1f} s")
    times: dict[str, list[float]] = {n: [] for n in trainers}
    for _ in range(args.rounds):
        for name, t in trainers.items():
            for _ in range(args.steps):
                t0 = time.perf_counter()
                t.train_step(False)
                sync()
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times[args.only[0]])
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"{name}: {m * 1e3:.1f} ms/step, {args.batch / m:.0f} img/s (x{base / m:.2f})")


if __name__ == "__main__":
    main()
