"""The loop and weightings: each player's weighting learns its player, counts its updates
(every D step of ``d_steps``), and a resumed run draws the same random weights."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from fake_plugins import module_with, registry_with
from helpers import tiny_spec

from mtbench import hookimpl, spec
from mtbench.api import PluginConfig, WeightingPlugin
from mtbench.io import load_torch
from mtbench.train.run import run


class RandomWeighting(WeightingPlugin):
    """Random loss weighting as a third party would write it (Lin et al. 2021): weights
    K softmax(N(0, I)) drawn each update from ``generator()``."""

    name = "random_test"
    description = "random loss weights each update"
    Config = PluginConfig
    seen: list[tuple[str, int, bool]] = []

    def combine(self, terms):
        draw = torch.randn(len(terms), generator=self.generator(), device=self.ctx.device)
        self.w = len(terms) * torch.softmax(draw, 0)
        type(self).seen.append((self.player, self.step, self.training))
        return sum(self.base[n] * w * t for w, (n, t) in zip(self.w, terms.items()))

    def current_weights(self):
        return dict(zip(self.base, self.w.tolist()))


@pytest.fixture
def reg():
    RandomWeighting.seen = []
    return registry_with(module_with("rw", mtbench_weightings=hookimpl(lambda: [RandomWeighting])))


def _spec(out, steps: int, d_steps: int = 1) -> dict:
    s = tiny_spec(out=str(out), weighting={"type": "random_test"})
    s["train"].update(steps=steps, d_steps=d_steps)
    s["log"].update(every=1, checkpoint_every=2)
    return s


def test_each_weighting_knows_its_player_and_counts_its_updates(tmp_path, reg):
    s = _spec(tmp_path / "run", steps=3, d_steps=2)
    assert run(spec.resolve(s, reg), reg, s["out"])["status"] == "done"
    assert RandomWeighting.seen == [
        ("d", 0, True), ("d", 1, True), ("g", 0, True),
        ("d", 2, True), ("d", 3, True), ("g", 1, True),
        ("d", 4, True), ("d", 5, True), ("g", 2, True),
    ]  # fmt: skip
    ckpt = load_torch(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["d_weighting"]["_extra_state"] == {"step": 6}
    assert ckpt["g_weighting"]["_extra_state"] == {"step": 3}


def test_resumed_run_draws_the_same_random_weights_as_an_uninterrupted_one(tmp_path, reg):
    straight = _spec(tmp_path / "straight", steps=4)
    run(spec.resolve(straight, reg), reg, straight["out"])
    first = _spec(tmp_path / "resumed", steps=2)
    run(spec.resolve(first, reg), reg, first["out"])
    again = _spec(tmp_path / "resumed", steps=4)
    run(spec.resolve(again, reg), reg, again["out"], resume=True)
    a = pd.read_parquet(tmp_path / "straight" / "steps.parquet")
    b = pd.read_parquet(tmp_path / "resumed" / "steps.parquet")
    cols = [c for c in a.columns if c.startswith(("weight/", "loss/"))]
    assert list(b["step"]) == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    w = a[[c for c in cols if c.startswith("weight/d/")]]
    assert w.nunique().min() == 4  # the weights really are redrawn every update
