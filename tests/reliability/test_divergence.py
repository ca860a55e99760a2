"""Silently wrong results: non-finite training state ends a run as diverged, never as done."""

from __future__ import annotations

import json
import types

import pytest
import torch
from helpers import tiny_spec, write_spec

from mtbench import hookimpl, spec
from mtbench.api import HeadPlugin
from mtbench.bench import decide
from mtbench.cli import main
from mtbench.io import load_torch
from mtbench.layout import RunDir
from mtbench.registry import Origin, Registry
from mtbench.report import leaderboard_markdown
from mtbench.results import read_runs
from mtbench.train import health
from mtbench.train.loop import Trainer
from mtbench.train.run import run


class _PoisonHead(HeadPlugin):
    """Finite loss, but a buffer that turns inf at a chosen training step: only a state check
    sees it (the loss-term guard alone ends such a run ``done``)."""

    name = "poison"
    description = "test head whose buffer turns inf at step POISON_AT"
    poison_at = 3

    def __init__(self, cfg, ctx):
        super().__init__(cfg, ctx)
        self.register_buffer("stat", torch.zeros(2))
        self.calls = 0

    def d_terms(self, real, fake):
        self.calls += self.training
        if self.calls == self.poison_at:
            self.stat.fill_(float("inf"))
        return {"x": fake.features.mean() * 0}

    def g_terms(self, fake, real):
        return {}


def _registry() -> Registry:
    mod = types.ModuleType("poison_plugin")
    mod.mtbench_heads = hookimpl(lambda: [_PoisonHead])
    reg = Registry.discover()
    reg.add_module(mod, Origin("poison = poison_plugin", "tests", "0"))
    return reg


def _poisoned(tmp_path, **log) -> tuple[dict, dict]:
    s = tiny_spec(out=str(tmp_path / "run"))
    s["discriminator"]["heads"].append({"type": "poison"})
    s["train"]["steps"] = 8
    s["log"].update(log)
    reg = _registry()
    return s, run(spec.resolve(s, reg), reg, s["out"])


def _all_finite(state: dict) -> bool:
    return all(
        torch.isfinite(v).all() for part in ("generator", "discriminator", "ema")
        for v in state[part].values() if v.is_floating_point()
    )  # fmt: skip


def test_huge_learning_rate_ends_diverged_naming_state_and_that_no_checkpoint_exists(tmp_path):
    s = tiny_spec(out=str(tmp_path / "run"))
    s["train"].update(steps=12, g={"lr": 1e6}, d={"lr": 1e6})
    s["log"].update(every=4, checkpoint_every=100, sample_every=100)
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 1
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["steps"] == 4
    assert "opt_g.exp_avg_sq[G.embed.weight]" in summary["non_finite"]
    assert "opt_g.exp_avg_sq[G.embed.weight]" in summary["error"]
    assert "no checkpoint was written (the first was due at step 100)" in summary["error"]
    assert "last good checkpoint" not in summary["error"]
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()


def test_inf_buffer_found_on_a_logged_step_keeps_the_last_finite_checkpoint(tmp_path):
    _, summary = _poisoned(tmp_path, every=4, checkpoint_every=2, sample_every=100)
    assert summary["status"] == "diverged" and summary["steps"] == 4
    assert summary["non_finite"] == ["D.heads.poison.stat"]
    assert "checkpoints/last.pt kept the last finite state (step 2)" in summary["error"]
    ckpt = load_torch(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["step"] == 2 and _all_finite(ckpt)
    assert torch.isfinite(ckpt["discriminator"]["heads.poison.stat"]).all()


def test_state_is_checked_before_every_checkpoint_even_on_unlogged_steps(tmp_path):
    _, summary = _poisoned(tmp_path, every=100, checkpoint_every=2, sample_every=100)
    assert summary["status"] == "diverged" and summary["steps"] == 4  # a checkpoint step
    assert load_torch(tmp_path / "run" / "checkpoints" / "last.pt")["step"] == 2


def test_a_diverged_run_is_not_counted_as_done(tmp_path):
    _poisoned(tmp_path, every=4, checkpoint_every=2, sample_every=100)
    tables = read_runs([str(tmp_path)])
    assert tables.runs["status"].tolist() == ["diverged"]
    md = leaderboard_markdown(tables, "t", None)
    assert "- run: diverged (non-finite values in D.heads.poison.stat" in md
    assert decide(RunDir(tmp_path / "run"), 8) == "skip"  # bench never reruns or counts it


def test_unlogged_steps_never_read_the_device(tmp_path, monkeypatch):
    """State checks and loss-flag reads happen on logged and saving steps only."""
    current, seen = [0], set()
    real_step = Trainer.train_step

    def train_step(self, timed):
        current[0] = self.step + 1
        return real_step(self, timed)

    def spy(real):
        def read(*args):
            seen.add(current[0])
            return real(*args)

        return read

    monkeypatch.setattr(Trainer, "train_step", train_step)
    for name in ("check_state", "raise_flagged"):
        monkeypatch.setattr(health.FiniteGuard, name, spy(getattr(health.FiniteGuard, name)))
    monkeypatch.setattr(health, "check_finite", spy(health.check_finite))
    s = tiny_spec(out=str(tmp_path / "run"))
    s["train"]["steps"] = 10
    s["log"].update(every=4, checkpoint_every=5, sample_every=100)
    reg = Registry.discover()
    assert run(spec.resolve(s, reg), reg, s["out"])["status"] == "done"
    assert seen == {4, 5, 8, 10}  # logged: 4, 8, 10; checkpoint: 5, 10


class _NanLater(HeadPlugin):
    name = "nan_later"
    description = "test head whose D term is NaN on one unlogged step, gradients too"
    calls = 0

    def d_terms(self, real, fake):
        type(self).calls += self.training
        nan = float("nan") if type(self).calls == 2 else 0.0
        return {"x": fake.features.mean() * nan}  # NaN weights: step 4's terms are NaN too

    def g_terms(self, fake, real):
        return {}


def test_a_nan_term_on_an_unlogged_step_is_named_at_the_next_logged_step(tmp_path):
    mod = types.ModuleType("nan_later_plugin")
    mod.mtbench_heads = hookimpl(lambda: [_NanLater])
    reg = Registry.discover()
    reg.add_module(mod, Origin("nan_later = nan_later_plugin", "tests", "0"))
    s = tiny_spec(out=str(tmp_path / "run"))
    s["discriminator"]["heads"].append({"type": "nan_later"})
    s["log"].update(every=4, checkpoint_every=100, sample_every=100)
    summary = run(spec.resolve(s, reg), reg, s["out"])
    # found when logged step 4 starts: steps 1-3 ran unlogged, the flag names the term
    assert summary["status"] == "diverged" and summary["steps"] == 3
    assert "became non-finite between step 1 and step 3" in summary["error"]
    assert "nan_later/x" in summary["error"] and "loss/d/nan_later/x" in summary["non_finite"]


@pytest.mark.parametrize("names", [["a"], [f"t{i}" for i in range(9)]])
def test_the_message_lists_a_few_names_and_counts_the_rest(names):
    guard = health.FiniteGuard()
    with pytest.raises(health.NonFiniteLoss) as err:
        guard.check_state([(n, torch.tensor([float("nan")])) for n in names], 7)
    assert err.value.names == names and "by step 7" in str(err.value)
    assert ("(+3 more)" in str(err.value)) == (len(names) == 9)
