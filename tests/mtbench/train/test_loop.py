"""The loop and weightings: each player's weighting learns its player, counts its updates
(every D step of ``d_steps``), and a resumed run draws the same random weights.

One training step's invariants: what each player's step touches, ``d_steps``, clipping.
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from fake_plugins import module_with, registry_of
from helpers import registry_with, tiny_spec
from torch import nn

from mtbench import hookimpl, spec
from mtbench.api import HeadPlugin, PluginConfig, WeightingPlugin
from mtbench.compose import compose
from mtbench.io import load_torch
from mtbench.spec import resolve
from mtbench.train.loop import Trainer
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
def rw_reg():
    RandomWeighting.seen = []
    return registry_of(module_with("rw", mtbench_weightings=hookimpl(lambda: [RandomWeighting])))


def _spec(out, steps: int, d_steps: int = 1) -> dict:
    s = tiny_spec(out=str(out), weighting={"type": "random_test"})
    s["train"].update(steps=steps, d_steps=d_steps)
    s["log"].update(every=1, checkpoint_every=2)
    return s


def test_each_weighting_knows_its_player_and_counts_its_updates(tmp_path, rw_reg):
    s = _spec(tmp_path / "run", steps=3, d_steps=2)
    assert run(spec.resolve(s, rw_reg), rw_reg, s["out"])["status"] == "done"
    assert RandomWeighting.seen == [
        ("d", 0, True), ("d", 1, True), ("g", 0, True),
        ("d", 2, True), ("d", 3, True), ("g", 1, True),
        ("d", 4, True), ("d", 5, True), ("g", 2, True),
    ]  # fmt: skip
    ckpt = load_torch(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["d_weighting"]["_extra_state"] == {"step": 6}
    assert ckpt["g_weighting"]["_extra_state"] == {"step": 3}


def test_resumed_run_draws_the_same_random_weights_as_an_uninterrupted_one(tmp_path, rw_reg):
    straight = _spec(tmp_path / "straight", steps=4)
    run(spec.resolve(straight, rw_reg), rw_reg, straight["out"])
    first = _spec(tmp_path / "resumed", steps=2)
    run(spec.resolve(first, rw_reg), rw_reg, first["out"])
    again = _spec(tmp_path / "resumed", steps=4)
    run(spec.resolve(again, rw_reg), rw_reg, again["out"], resume=True)
    a = pd.read_parquet(tmp_path / "straight" / "steps.parquet")
    b = pd.read_parquet(tmp_path / "resumed" / "steps.parquet")
    cols = [c for c in a.columns if c.startswith(("weight/", "loss/"))]
    assert list(b["step"]) == [1, 2, 3, 4]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    w = a[[c for c in cols if c.startswith("weight/d/")]]
    assert w.nunique().min() == 4  # the weights really are redrawn every update


CPU = torch.device("cpu")


class GSideHead(HeadPlugin):
    """A test head whose ``g_scale`` belongs to the generator's optimizer, though D reads it."""

    name = "g_side"
    description = "test head with a generator-side parameter"

    def __init__(self, cfg, ctx) -> None:
        super().__init__(cfg, ctx)
        self.linear = nn.Linear(ctx.feature_dim, 1)
        self.g_scale = nn.Parameter(torch.ones(()))

    def d_terms(self, real, fake):
        logits = self.g_scale * self.linear(torch.cat([real.features, fake.features]))
        return {"d": logits.square().mean()}

    def g_terms(self, fake, real):
        return {"g": (self.g_scale * self.linear(fake.features)).square().mean()}

    def g_parameters(self) -> list[nn.Parameter]:
        return [self.g_scale]


@pytest.fixture(scope="module")
def reg():
    return registry_with(GSideHead)


def trainer(reg, **train) -> Trainer:
    spec = tiny_spec()
    spec["discriminator"]["heads"] = [{"type": "adversarial"}, {"type": "g_side"}]
    spec["train"].update(train)
    r = resolve(spec, reg)
    torch.manual_seed(0)  # initial weights
    return Trainer.from_spec(r, compose(r, reg, CPU), CPU)


def on_step(opt: torch.optim.Optimizer, record, post: bool = False) -> list:
    """Call ``record()`` just before (after clipping) or after every ``opt.step``."""
    seen = []
    hook = opt.register_step_post_hook if post else opt.register_step_pre_hook
    hook(lambda *_: seen.append(record()))
    return seen


def snapshot(params) -> list[torch.Tensor]:
    return [p.detach().clone() for p in params]


def state(params) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Copies of the parameters and of their gradients."""
    params = list(params)
    return snapshot(params), snapshot(p.grad for p in params)


def test_d_steps_leave_the_generator_and_heads_g_parameters_alone(reg):
    t = trainer(reg, d_steps=2)
    g_before = snapshot(t.g_params)
    seen = on_step(
        t.opt_d,
        lambda: (
            [p.grad is None for p in t.g_params],
            [torch.equal(p, b) for p, b in zip(t.g_params, g_before)],
            [p.grad is not None for p in t.d_params],
        ),
    )
    t.train_step(timed=False)
    assert len(seen) == 2
    for g_no_grad, g_same, d_has_grad in seen:
        assert all(g_no_grad) and all(g_same) and all(d_has_grad)


def test_g_step_leaves_the_discriminator_as_the_d_step_left_it(reg):
    t = trainer(reg)
    after_d = on_step(t.opt_d, lambda: state(t.d_params), post=True)
    t.train_step(timed=False)
    (weights, grads), (weights_now, grads_now) = after_d[0], state(t.d_params)
    assert all(torch.equal(a, b) for a, b in zip(weights, weights_now))
    assert all(torch.equal(a, b) for a, b in zip(grads, grads_now))  # G terms add no D grads


@pytest.mark.parametrize("d_steps", [1, 3])
def test_d_steps_d_optimizer_steps_per_g_step(reg, d_steps):
    t = trainer(reg, d_steps=d_steps)
    d_seen, g_seen = on_step(t.opt_d, lambda: 1), on_step(t.opt_g, lambda: 1)
    for _ in range(2):
        t.train_step(timed=False)
    assert (len(d_seen), len(g_seen)) == (2 * d_steps, 2)


def grad_norm(params) -> float:
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params])).item()


def first_step_norms(t: Trainer) -> dict[str, float]:
    """Each player's gradient norm as its optimizer steps, in the first train step."""
    norms = {
        "d": on_step(t.opt_d, lambda: grad_norm(t.d_params)),
        "g": on_step(t.opt_g, lambda: grad_norm(t.g_params)),
    }
    t.train_step(timed=False)
    return {player: seen[0] for player, seen in norms.items()}


def test_grad_clip_bounds_both_players_norm_at_the_optimizer_step(reg):
    free = first_step_norms(trainer(reg))
    clip = min(free.values()) / 2
    clipped = first_step_norms(trainer(reg, grad_clip=clip))  # same seed: same raw gradients
    assert all(norm <= clip for norm in clipped.values())
    assert clipped == pytest.approx({"d": clip, "g": clip}, rel=1e-3)  # clip_grad_norm_'s eps


def holds(opt: torch.optim.Optimizer, param: nn.Parameter) -> bool:
    return any(p is param for group in opt.param_groups for p in group["params"])


def test_heads_g_parameters_belong_to_the_g_optimizer_only(reg):
    t = trainer(reg)
    head = t.D.heads["g_side"]
    assert holds(t.opt_g, head.g_scale) and not holds(t.opt_d, head.g_scale)
    assert all(p is not head.g_scale for p in t.d_params)
    at_g = on_step(t.opt_g, lambda: (head.g_scale.item(), head.g_scale.grad))
    t.train_step(timed=False)
    value, grad = at_g[0]
    assert value == 1.0 and grad is not None  # untouched by the D step, trained by the G step
    assert head.g_scale.item() != 1.0


def test_trunk_runs_once_per_d_step_and_once_per_g_step_for_all_heads(reg):
    t = trainer(reg, d_steps=2)
    batches = []
    t.D.trunk.register_forward_hook(lambda m, args, out: batches.append(args[0].shape[0]))
    t.train_step(timed=False)
    n = t.batch_size
    assert batches == [2 * n, 2 * n, n]  # real and fake together, per D step; fakes in G step


def test_a_non_finite_term_on_an_unlogged_step_skips_that_update_and_stops_at_the_next_log(
    registry,
):
    from mtbench.errors import NonFiniteLoss

    r = resolve(tiny_spec(), registry)
    t = Trainer.from_spec(r, compose(r, registry, CPU), CPU)
    t.train_step(False)
    d_before = {k: v.clone() for k, v in t.D.state_dict().items()}
    g_before = {k: v.clone() for k, v in t.G.state_dict().items()}
    d_terms = t.D.d_terms

    def poisoned(real, fake):
        terms = d_terms(real, fake)
        return {k: v * float("nan") if k == "adversarial/adv" else v for k, v in terms.items()}

    t.D.d_terms = poisoned
    t.train_step(False)  # unlogged: nothing is read from the device
    assert all(torch.equal(v, d_before[k]) for k, v in t.D.state_dict().items() if "num_b" not in k)
    assert any(not torch.equal(v, g_before[k]) for k, v in t.G.state_dict().items())
    with pytest.raises(NonFiniteLoss, match="adversarial/adv of the D step became non-finite"):
        t.check_health()


def test_channels_last_trains_with_convolution_weights_in_that_layout(tmp_path, registry):
    from mtbench.train import run as R

    s = tiny_spec(out=str(tmp_path / "run"))
    s["train"]["channels_last"] = True
    r = resolve(s, registry)
    parts = compose(r, registry, CPU)
    R.channels_last(parts.generator)
    convs = [q for q in parts.generator.parameters() if q.ndim == 4]
    assert convs and all(q.is_contiguous(memory_format=torch.channels_last) for q in convs)
    assert run(r, registry, s["out"])["status"] == "done"


def test_compile_on_the_cpu_is_one_line(tmp_path, registry):
    from mtbench.errors import UserError

    s = tiny_spec(out=str(tmp_path / "run"))
    s["train"]["compile"] = True
    with pytest.raises(UserError, match=r"^train\.compile: on the CPU torch\.compile made"):
        run(resolve(s, registry), registry, s["out"])
    assert not (tmp_path / "run").exists()
