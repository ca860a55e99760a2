"""Overhead gate: mtbench's training step vs the very same networks in a plain PyTorch loop.

Both steps are timed in interleaved rounds in one process (process CPU time, one torch
thread), so whatever slows the machine slows both; their ratio is what mtbench's own code
costs per step, and it is stable where absolute timings on a shared machine are not. The
spec is the quickstart (coloured shapes: no files needed). The plain loop hand-codes what a
researcher would write: sample a batch, one trunk pass on real+fake, the heads' terms summed
with their fixed weights, backward, Adam, EMA. Fails when mtbench's step is more than
``MAX_RATIO`` times the plain one.

    OMP_NUM_THREADS=1 pytest benchmarks/test_overhead.py -s
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import torch

from mtbench.api import Side
from mtbench.compose import compose
from mtbench.spec import resolve
from mtbench.train.loop import Trainer

REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
ROUNDS, WARMUP = 80, 5
MAX_RATIO = 1.15  # measured 0.97-1.06 on a 2-core CPU (80 rounds); the rest is headroom for noise


def quickstart_trainer(registry) -> Trainer:
    data = json.loads((REPO / "examples" / "quickstart.json").read_text())
    data["train"].update(device="cpu", threads=1)
    data["log"]["progress"] = False
    data["eval"] = {"metrics": []}
    r = resolve(data, registry)
    torch.manual_seed(r.spec.seed)
    return Trainer(r, compose(r, registry, CPU), CPU)


class PlainLoop:
    """The trainer's own networks, optimizers' settings and loss weights, driven by hand."""

    def __init__(self, t: Trainer) -> None:
        spec = t.r.spec
        self.G, self.trunk, self.heads = t.G, t.D.trunk, dict(t.D.heads)
        self.d_w, self.g_w = dict(t.p.d_weighting.base), dict(t.p.g_weighting.base)
        self.images, self.labels = t.p.source.data.images, t.p.source.data.labels
        self.b, self.k, self.z_dim = spec.train.batch_size, t.p.info.num_classes, t.G.z_dim
        self.g_params = list(self.G.parameters())
        heads = self.heads.values()
        d_params = [*self.trunk.parameters(), *(p for h in heads for p in h.parameters())]
        self.opt_g = torch.optim.Adam(self.g_params, lr=spec.train.g.lr, betas=spec.train.g.betas)
        self.opt_d = torch.optim.Adam(d_params, lr=spec.train.d.lr, betas=spec.train.d.betas)
        self.ema = [p.detach().clone() for p in self.g_params]
        self.ema_step = 1 - spec.train.ema_decay

    @staticmethod
    def weighted(weights: dict[str, float], per_head: dict[str, dict]) -> torch.Tensor:
        """sum of weight * term over every head's terms (weights keyed "<head>/<term>")."""
        return sum(
            weights[f"{label}/{name}"] * term
            for label, terms in per_head.items()
            for name, term in terms.items()
        )

    def step(self) -> None:
        b = self.b
        idx = torch.randint(len(self.images), (b,))
        real = self.images[idx].float().div_(127.5).sub_(1)
        with torch.no_grad():
            yf = torch.randint(self.k, (b,))
            fake = self.G(torch.randn(b, self.z_dim), yf)["image"]
        rf, ff = self.trunk(torch.cat([real, fake])).split(b)
        rs, fs = Side({"image": real}, self.labels[idx], {}, rf), Side({"image": fake}, yf, {}, ff)
        self.opt_d.zero_grad(set_to_none=True)
        self.weighted(self.d_w, {n: h.d_terms(rs, fs) for n, h in self.heads.items()}).backward()
        self.opt_d.step()

        yf = torch.randint(self.k, (b,))
        out = self.G(torch.randn(b, self.z_dim), yf)
        fs = Side(out, yf, {}, self.trunk(out["image"]))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss = self.weighted(self.g_w, {n: h.g_terms(fs, rs) for n, h in self.heads.items()})
        g_loss.backward(inputs=self.g_params)
        self.opt_g.step()
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, self.g_params, self.ema_step)


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


def test_mtbench_step_costs_no_more_than_a_plain_loop(registry, record_property):
    torch.set_num_threads(1)
    trainer = quickstart_trainer(registry)
    plain = PlainLoop(trainer)
    med = interleaved(
        {"mtbench": lambda: trainer.train_step(False), "plain": plain.step}, ROUNDS, WARMUP
    )
    ratio = med["mtbench"] / med["plain"]
    report = (
        f"quickstart step, 1 thread: mtbench {1e3 * med['mtbench']:.1f} ms, "
        f"plain loop {1e3 * med['plain']:.1f} ms, ratio {ratio:.3f} (limit {MAX_RATIO})"
    )
    record_property("overhead", report)
    print(report)
    assert ratio <= MAX_RATIO, report
