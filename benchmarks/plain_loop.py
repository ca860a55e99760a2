"""A hand-written PyTorch training loop over a Trainer's own networks: the reference that
mtbench's step is measured against (test_overhead.py, bench_overhead.py).

It does what a researcher would write by hand: sample a batch from the tensor on the
device, one trunk pass on real+fake, every head's terms, one weighted sum per player,
backward, Adam, EMA. ``weigh`` turns a player's terms (keyed "<head>/<term>", in the order
the heads return them) into its loss: the spec's fixed weights unless given.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from mtbench.api import Side
from mtbench.train.loop import Trainer

Weigh = Callable[[dict[str, Tensor]], Tensor]


def fixed(weights: dict[str, float]) -> Weigh:
    """sum of weight * term, with the weights of the trainer's weighting."""
    return lambda terms: sum(weights[name] * term for name, term in terms.items())


class PlainLoop:
    """The trainer's generator, trunk and heads, driven by hand."""

    def __init__(
        self,
        t: Trainer,
        d_weigh: Weigh | None = None,
        g_weigh: Weigh | None = None,
        extra_d: tuple[Tensor, ...] = (),
        extra_g: tuple[Tensor, ...] = (),
    ) -> None:
        g, d = t.opt_g.param_groups[0], t.opt_d.param_groups[0]
        self.G, self.trunk, self.heads = t.G, t.D.trunk, dict(t.D.heads)
        self.d_weigh = d_weigh or fixed(dict(t.p.d_weighting.base))
        self.g_weigh = g_weigh or fixed(dict(t.p.g_weighting.base))
        self.images, self.labels = t.p.source.data.images, t.p.source.data.labels
        self.b, self.k, self.z_dim = t.batch_size, t.p.info.num_classes, t.G.z_dim
        self.g_list = list(self.G.parameters())
        self.g_params = [*self.g_list, *extra_g]
        heads = [p for h in self.heads.values() for p in h.parameters()]
        d_params = [*self.trunk.parameters(), *heads, *extra_d]
        self.opt_g = torch.optim.Adam(self.g_params, lr=g["lr"], betas=g["betas"])
        self.opt_d = torch.optim.Adam(d_params, lr=d["lr"], betas=d["betas"])
        self.ema = [p.detach().clone() for p in self.g_list]
        self.ema_step = 1 - t.ema.decay

    def terms(self, player: str, a: Side, b: Side) -> dict[str, Tensor]:
        """Every head's terms of one player, keyed "<head>/<term>"."""
        return {
            f"{label}/{name}": term
            for label, head in self.heads.items()
            for name, term in (head.d_terms(a, b) if player == "d" else head.g_terms(a, b)).items()
        }

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
        self.d_weigh(self.terms("d", rs, fs)).backward()
        self.opt_d.step()

        yf = torch.randint(self.k, (b,))
        out = self.G(torch.randn(b, self.z_dim), yf)
        fs = Side(out, yf, {}, self.trunk(out["image"]))
        self.opt_g.zero_grad(set_to_none=True)
        self.g_weigh(self.terms("g", fs, rs)).backward(inputs=self.g_params)
        self.opt_g.step()
        with torch.no_grad():
            torch._foreach_lerp_(self.ema, self.g_list, self.ema_step)
