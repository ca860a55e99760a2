"""The weighting contract in mtbench.api: a context, a checkpointed update count, and random
numbers seeded from (run seed, player, step)."""

from __future__ import annotations

import torch

from mtbench import api
from mtbench.api import PluginConfig, WeightingContext, WeightingPlugin, weighting_seed
from mtbench_plugins.weightings.dwa import DWAWeighting
from mtbench_plugins.weightings.fixed import FixedWeighting

BASE = {"a/x": 1.0, "b/y": 0.5}


def _w(player: str = "d", seed: int = 7) -> WeightingPlugin:
    return FixedWeighting(FixedWeighting.Config(), BASE, ctx=WeightingContext(player, seed))


def _draw(w: WeightingPlugin) -> torch.Tensor:
    return torch.rand(3, generator=w.generator())


def test_generator_depends_on_seed_player_and_step_only():
    a, b = _w(), _w()
    assert torch.equal(_draw(a), _draw(b))
    assert not torch.equal(_draw(_w("g")), _draw(_w("d")))
    assert not torch.equal(_draw(_w(seed=8)), _draw(_w(seed=7)))
    first = _draw(a)
    assert not torch.equal(first, _draw(a))  # draws within one update continue the stream
    a.advance()
    c = _w()
    c.step = 1
    assert torch.equal(_draw(a), _draw(c))  # reseeded at the new step, whatever came before


def test_generator_does_not_touch_the_global_random_stream():
    torch.manual_seed(0)
    expected = torch.rand(2)
    torch.manual_seed(0)
    _draw(_w())
    assert torch.equal(torch.rand(2), expected)


def test_step_is_in_the_state_dict_so_resume_draws_the_same_numbers():
    w = _w()
    for _ in range(5):
        w.advance()
    fresh = _w()
    fresh.load_state_dict(w.state_dict())
    assert fresh.step == 5 and torch.equal(_draw(fresh), _draw(w))


def test_checkpoints_from_before_the_count_still_load():
    w = _w()
    w.load_state_dict({})  # a fixed weighting's old state: empty
    assert w.step == 0
    dwa = DWAWeighting(DWAWeighting.Config(), BASE)
    old = {k: v for k, v in dwa.state_dict().items() if k != "_extra_state"}
    dwa.load_state_dict({**old, "_extra_state": {"steps": 3}})
    assert dwa.steps == 3 and dwa.step == 0


def test_default_context_and_seed_derivation():
    w = WeightingPlugin(PluginConfig(), BASE)
    assert w.player == "d" and w.ctx == WeightingContext()
    seeds = {weighting_seed(s, p, t) for s in (0, 1) for p in "dg" for t in range(100)}
    assert len(seeds) == 400 and all(0 <= s < 2**63 for s in seeds)


def test_api_documents_what_the_readme_leaves_out():
    doc = " ".join(api.__doc__.split())
    for fact in (
        "takes ``weight``, ``g_weight`` and ``label`` besides its own Config",
        "A trunk sets ``self.feature_dim`` (int) in ``__init__``",
        "Trunks and heads receive float (B, C, H, W) images",
        "reals in [-1, 1]",
        "has no domain evaluator",
        'Use ``eval.feature_extractor: "inception-v3-compat"``',
    ):
        assert fact in doc, fact
    weighting = " ".join(WeightingPlugin.__doc__.split())
    assert "When the core calls what: once per update of its player" in weighting
