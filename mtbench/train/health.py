"""Non-finite guard: loss terms are flagged on the device every step; the host reads the flags,
and checks every parameter, buffer and optimizer state, only on logged steps and before
anything is saved. An unlogged step never waits for the device. Under torchrun the
decision to stop is a vote of all ranks (each holds its own batch's terms), so every rank
stops at the same step and the message names the terms of every rank."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from mtbench.dist import SINGLE, Dist
from mtbench.errors import NonFiniteLoss

SHOWN = 6  # names listed in the message; the summary keeps them all


class FiniteGuard:
    """Device-side flags of non-finite loss terms, read when the host syncs anyway."""

    def __init__(self, dist: Dist = SINGLE) -> None:
        self.dist = dist
        self.flags: dict[tuple[str, tuple[str, ...]], Tensor] = {}
        self.clean_step = 0  # the last step whose whole state was checked and finite

    def watch(self, terms: dict[str, Tensor], step: int, player: str, now: bool) -> Tensor | None:
        """Raise at once on a logged step (``now``); else remember, on the device, and return
        a float (1,) flag, 1 when a term is non-finite: the trainer skips that update."""
        values = torch.stack([t.detach().float() for t in terms.values()])
        if now:  # earlier steps' flags first: they name where it began
            self.raise_flagged(step)
            check_finite(terms, values, step, player, self.dist)
            return None
        key = (player, tuple(terms))
        bad = ~torch.isfinite(values)
        old = self.flags.get(key)
        self.flags[key] = bad if old is None else old | bad
        return bad.any().float().reshape(1)

    def raise_flagged(self, step: int) -> None:
        """One host read of every flag raised since the last check; names the terms."""
        if not self.flags:
            return
        flags, self.flags = self.flags, {}
        if not self.dist.any(bool(torch.cat(list(flags.values())).any())):
            return
        here = [
            (player, name)
            for (player, names), f in flags.items()
            for name, b in zip(names, f.tolist())
            if b
        ]
        bad = list(dict.fromkeys(tuple(b) for rank in self.dist.all_objects(here) for b in rank))
        players = sorted({p for p, _ in bad})
        raise NonFiniteLoss(
            f"loss term {', '.join(sorted({n for _, n in bad}))} of the "
            f"{' and '.join(players)} step became non-finite between step "
            f"{self.clean_step + 1} and step {step}",
            names=[f"loss/{p.lower()}/{n}" for p, n in bad],
            step=step,
        )

    def check_state(self, named: Iterable[tuple[str, Tensor]], step: int) -> None:
        """Raise naming every tensor of the training state that holds NaN or inf."""
        bad = nonfinite_names(named)
        if bad:
            shown = ", ".join(bad[:SHOWN]) + (f" (+{len(bad) - SHOWN} more)" if bad[SHOWN:] else "")
            raise NonFiniteLoss(
                f"non-finite values in {shown} by step {step} (finite at step {self.clean_step})",
                names=bad,
                step=step,
            )
        self.clean_step = step


def check_finite(
    terms: dict[str, Tensor], values: Tensor, step: int, player: str, dist: Dist = SINGLE
) -> None:
    """Stop before a NaN or inf term reaches an optimizer, naming the term and step."""
    if dist.any(not bool(torch.isfinite(values).all())):
        here = [k for k, v in zip(terms, values.tolist()) if not math.isfinite(v)]
        on_any = {k for rank in dist.all_objects(here) for k in rank}
        bad = [k for k in terms if k in on_any]
        raise NonFiniteLoss(
            f"loss term {', '.join(bad)} of the {player} step became non-finite at step {step + 1}",
            names=[f"loss/{player.lower()}/{k}" for k in bad],
            step=step,
        )


def nonfinite_names(named: Iterable[tuple[str, Tensor]]) -> list[str]:
    """Names of floating-point tensors holding NaN or inf; one host read per device."""
    by_device: dict[torch.device, list[tuple[str, Tensor]]] = {}
    for name, t in named:
        if t.is_floating_point() or t.is_complex():
            by_device.setdefault(t.device, []).append((name, t))
    bad = []
    for group in by_device.values():
        ok = torch.stack([torch.isfinite(t).all() for _, t in group]).tolist()
        bad += [name for (name, _), fine in zip(group, ok) if not fine]
    return bad


def module_state(prefix: str, module: nn.Module) -> Iterable[tuple[str, Tensor]]:
    """Every parameter and buffer of ``module``, named ``prefix.path``."""
    for name, t in module.state_dict(keep_vars=True).items():
        if isinstance(t, Tensor):
            yield f"{prefix}.{name}", t.detach()


def optimizer_state(
    prefix: str, opt: torch.optim.Optimizer, names: dict[int, str]
) -> Iterable[tuple[str, Tensor]]:
    """Every state tensor of ``opt`` (Adam's moments), named ``prefix.key[parameter name]``."""
    for param, state in opt.state.items():
        pname = names.get(id(param), "?")
        for key, t in state.items():
            if isinstance(t, Tensor):
                yield f"{prefix}.{key}[{pname}]", t
