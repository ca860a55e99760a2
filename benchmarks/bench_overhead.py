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

from mtbench import spec as S
from mtbench.api import Side
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
    return Trainer(r, compose(r, registry, torch.device("cpu")), torch.device("cpu"))


class PlainLoop:
    """The same networks, optimizers and loss form, written as one would by hand."""

    def __init__(self, t: Trainer) -> None:
        p = t.p
        self.G, self.trunk = t.G, t.D.trunk
        self.ens, self.aux, self.rec = (t.D.heads[k] for k in t.D.heads)
        self.images, self.labels = p.source.data.images, p.source.data.labels
        self.k, self.b, self.z_dim = p.info.num_classes, t.r.spec.train.batch_size, t.G.z_dim
        self.s_d = torch.zeros(7, requires_grad=True)  # 4 ensemble, 2 aux, 1 reconstruction
        self.s_g = torch.zeros(3, requires_grad=True)
        cfg = t.r.spec.train
        self.g_params = [*self.G.parameters(), self.s_g]
        d_params = [*self.trunk.parameters(), *self.ens.parameters(), *self.aux.parameters()]
        self.d_params = [*d_params, *self.rec.parameters(), self.s_d]
        self.opt_g = torch.optim.Adam(self.g_params, lr=cfg.g.lr, betas=cfg.g.betas)
        self.opt_d = torch.optim.Adam(self.d_params, lr=cfg.d.lr, betas=cfg.d.betas)
        self.ema = [q.detach().clone() for q in self.G.parameters()]
        self.g_list = list(self.G.parameters())

    @staticmethod
    def weighted(terms: list[torch.Tensor], s: torch.Tensor) -> torch.Tensor:
        return sum(torch.exp(-s[i]) * t + s[i] for i, t in enumerate(terms))

    def step(self) -> None:
        b = self.b
        idx = torch.randint(len(self.images), (b,))
        real = self.images[idx].float().div_(127.5).sub_(1)
        with torch.no_grad():
            yf = torch.randint(self.k, (b,))
            fake = self.G(torch.randn(b, self.z_dim), yf)["image"]
        rf, ff = self.trunk(torch.cat([real, fake])).split(b)
        rs = Side({"image": real}, self.labels[idx], {}, rf)
        fs = Side({"image": fake}, yf, {}, ff)
        terms = [*self.ens.d_terms(rs, fs).values(), *self.aux.d_terms(rs, fs).values()]
        terms += list(self.rec.d_terms(rs, fs).values())
        self.opt_d.zero_grad(set_to_none=True)
        self.weighted(terms, self.s_d).backward()
        self.opt_d.step()

        yf = torch.randint(self.k, (b,))
        out = self.G(torch.randn(b, self.z_dim), yf)
        fs = Side(out, yf, {}, self.trunk(out["image"]))
        terms = [*self.ens.g_terms(fs, rs).values(), *self.aux.g_terms(fs, rs).values()]
        terms += list(self.rec.g_terms(fs, rs).values())
        self.opt_g.zero_grad(set_to_none=True)
        self.weighted(terms, self.s_g).backward(inputs=self.g_params)
        self.opt_g.step()
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, self.g_list, 0.001)


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
    plain = PlainLoop(trainer)
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
    plain = PlainLoop(trainer)
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
