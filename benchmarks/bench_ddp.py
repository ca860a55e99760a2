"""Data-parallel scaling of mtbench's step: 1 rank vs N ranks (torchrun), same global batch.

Trains ``examples/mt_cgan_mnist.json`` (global batch 64 unless ``--batch``) for ``--steps``
timed steps after ``--warmup`` in each launch; launches alternate between the rank counts
(interleaved rounds, so a neighbour's load hits both alike) and the figures are medians
over rounds of each launch's median step. Reports images/s of the global batch, the
speed-up over 1 rank, and the share of the step spent averaging gradients and batch-norm
buffers across ranks (host clock: exact for gloo on the CPU; on CUDA it counts only the
time to enqueue NCCL's work, so it is a lower bound there).

    OMP_NUM_THREADS=1 python benchmarks/bench_ddp.py                      # 1 vs 2 gloo ranks
    python benchmarks/bench_ddp.py --device cuda --ranks 1 2 4 8         # GPUs, unchanged
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO.parent / "shared" / "data" / "mnist"


def worker(args: argparse.Namespace) -> None:
    """One rank of one launch: warm up, time steps, rank 0 writes its medians as JSON."""
    import torch

    from mtbench import dist as D
    from mtbench import spec as S
    from mtbench.compose import compose
    from mtbench.registry import Registry
    from mtbench.train.loop import Trainer
    from mtbench.train.run import resolve_device
    from mtbench.train.state import seed_everything

    torch.set_num_threads(args.threads)
    data = json.loads((REPO / "examples" / "mt_cgan_mnist.json").read_text())
    data["dataset"]["root"] = str(args.mnist)
    data["eval"] = {"metrics": []}
    data["train"].update(batch_size=args.batch, device=args.device, threads=args.threads)
    registry = Registry.discover()
    r = S.resolve(data, registry)
    dist = D.Dist.from_env()
    device = resolve_device(args.device, dist.local_rank)
    dist = D.start(device.type)
    seed_everything(r.spec.seed)
    t = Trainer.from_spec(r, compose(r, registry, device, dist), device, dist)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(args.warmup):
        t.train_step(False)
    sync()
    steps, comm = [], []
    for _ in range(args.steps):
        t.comm_s = 0.0
        t0 = time.perf_counter()
        t.train_step(False)
        sync()
        steps.append(time.perf_counter() - t0)
        comm.append(t.comm_s)
    if dist.is_main():
        out = {"step_s": statistics.median(steps), "comm_share": sum(comm) / sum(steps)}
        Path(args.result).write_text(json.dumps(out))
    D.stop()


def launch(args: argparse.Namespace, ranks: int, result: Path) -> dict:
    """One torchrun launch of ``ranks`` processes; its rank 0's figures."""
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={ranks}", str(Path(__file__).resolve()), "--worker",
        "--result", str(result), "--device", args.device, "--batch", str(args.batch),
        "--threads", str(args.threads), "--steps", str(args.steps),
        "--warmup", str(args.warmup), "--mnist", str(args.mnist),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    subprocess.run(cmd, check=True, env=env, timeout=args.timeout)
    return json.loads(result.read_text())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, default=64, help="global batch")
    p.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    p.add_argument("--steps", type=int, default=20, help="timed steps per launch")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--timeout", type=float, default=600, help="seconds one launch may take")
    p.add_argument("--mnist", type=Path, default=MNIST)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    runs: dict[int, list[dict]] = {n: [] for n in args.ranks}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.rounds):
            for n in args.ranks if k % 2 == 0 else reversed(args.ranks):  # interleaved
                runs[n].append(launch(args, n, Path(tmp) / f"{n}-{k}.json"))
    base = None
    for n, got in runs.items():
        step = statistics.median(g["step_s"] for g in got)
        share = statistics.median(g["comm_share"] for g in got)
        rate = args.batch / step
        base = base or rate
        print(
            f"{n} rank(s) on {args.device}, {args.threads} thread(s) each: {rate:.0f} img/s "
            f"(x{rate / base:.2f}), step {step * 1e3:.1f} ms, communication {share:.0%}"
        )


if __name__ == "__main__":
    main()
