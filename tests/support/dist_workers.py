"""What the ranks of the distributed tests run (spawned processes import it by name)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from mtbench import dist as D
from mtbench.compose import compose
from mtbench.data import Batch
from mtbench.latent import GenInput, generator_input
from mtbench.registry import Registry
from mtbench.spec import resolve
from mtbench.train.loop import Trainer
from mtbench.train.state import seed_everything

CPU = torch.device("cpu")
FIXED_SEED = 99  # the global batch every process draws alike


def build(spec: dict, registry: Registry, dist: D.Dist = D.SINGLE) -> Trainer:
    """A trainer of ``spec`` on the CPU, seeded as ``mtbench run`` seeds it."""
    r = resolve(spec, registry)
    seed_everything(r.spec.seed)
    return Trainer.from_spec(r, compose(r, registry, CPU, dist), CPU, dist)


def _rows(t, lo: int, n: int):
    return None if t is None else t[lo : lo + n]


def feed_fixed(trainer: Trainer) -> None:
    """Make the trainer's next step use one fixed global batch (reals and both fakes), of which
    this rank takes its contiguous share: the same samples on any number of ranks.

    The generator runs in eval mode (its batch norm then holds no batch statistics), so a
    sample's fake image does not depend on which other samples share its batch."""
    p, dist = trainer.p, trainer.dist
    g = torch.Generator().manual_seed(FIXED_SEED)
    real = p.source.sample(trainer.global_batch, g)
    fakes = [
        generator_input(trainer.global_batch, trainer.G.z_dim, p.codes, p.conditions, p.source, g)
        for _ in range(2 * trainer.d_steps)
    ]
    lo, n = dist.rank * trainer.batch_size, trainer.batch_size
    cut = {k: v[lo : lo + n] for k, v in real.images.items()}
    targets = {k: v[lo : lo + n] for k, v in real.targets.items()}
    p.source.sample = lambda _n, _gen: Batch(dict(cut), _rows(real.labels, lo, n), targets)
    queue = [
        GenInput(
            x.z[lo : lo + n],
            _rows(x.labels, lo, n),
            {k: v[lo : lo + n] for k, v in x.codes.items()},
            {k: v[lo : lo + n] for k, v in x.conditions.items()},
        )
        for x in fakes
    ]

    def fake(_n: int):
        x = queue.pop(0)
        return trainer.G(x.z, x.labels), x

    trainer._fake = fake
    trainer.G.eval()


def state_of(trainer: Trainer) -> dict[str, torch.Tensor]:
    """Every tensor that must agree across ranks: weights, buffers, EMA, weighting state."""
    return {name: t.detach().clone() for name, t in trainer._shared_state()}


def digest(state: dict[str, torch.Tensor]) -> str:
    """A hash of the exact bits of every tensor."""
    h = hashlib.sha256()
    for name, t in sorted(state.items()):
        h.update(name.encode())
        h.update(t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def equivalence_worker(rank: int, world: int, port: int, specs: dict, out: str) -> None:
    """One fixed step per spec on this rank's share, then free steps: saves rank 0's state after
    the fixed step and every rank's hashes after each step, for the test to compare."""
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    dist = D.start("cpu")
    registry = Registry.discover()
    results = {}
    for case, spec in specs.items():
        t = build(spec, registry, dist)
        feed_fixed(t)
        t.train_step(False)
        t.G.train()
        fixed = state_of(t)
        hashes = [digest(fixed)]
        del t.p.source.sample, t._fake  # back to this rank's own streams
        for step in range(2):
            t.train_step(timed=step == 1)
            hashes.append(digest(state_of(t)))
        results[case] = {"fixed": fixed if rank == 0 else None, "hashes": hashes}
    torch.save(results, Path(out) / f"rank{rank}.pt")
    D.stop()
