"""Ensemble head: terms by hand, aggregators, fused == looped, layouts, checks, state."""

import math

import pytest
import torch
from helpers import build_loss, sp
from pydantic import ValidationError
from torch import nn

from mtbench.api import DataInfo, HeadContext, Side
from mtbench.compose import build_trunk
from mtbench.discriminator import Discriminator
from mtbench_plugins.heads.ensemble import EnsembleHead

torch.set_num_threads(1)

F_DIM = 4
DATA = DataInfo(channels=1, size=16, num_classes=0)
SMALL_TRUNK = {"type": "dcgan", "width": 4, "feature_dim": 8}


def context(registry, data: DataInfo = DATA) -> HeadContext:
    return HeadContext(
        data=data,
        feature_dim=F_DIM,
        loss=build_loss("ns"),
        trunk=nn.Identity(),
        build_trunk=lambda spec: build_trunk(spec, registry, data),
        build_loss=build_loss,
    )


@pytest.fixture
def ctx(registry) -> HeadContext:
    return context(registry)


def make(ctx: HeadContext, seed: int = 0, **cfg) -> EnsembleHead:
    cfg.setdefault("k", 3)
    if cfg.get("layout") != "shared_trunk":
        cfg.setdefault("trunk", SMALL_TRUNK)
    torch.manual_seed(seed)
    return EnsembleHead(EnsembleHead.Config(**cfg), ctx)


def image_side(images: torch.Tensor) -> Side:
    return Side(images={"image": images}, labels=None, targets={}, features=None)


def images(n: int = 4, seed: int = 1, grad: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 16, 16, generator=g).requires_grad_(grad)


# ---------------------------------------------------------------- shared trunk, by hand


def hand_head(ctx: HeadContext, **cfg) -> EnsembleHead:
    """Shared-trunk ensemble of 3 with logits f0, -f0 and f1 + 1."""
    head = make(ctx, layout="shared_trunk", **cfg)
    with torch.no_grad():
        head.logits_layer.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0]]))
        head.logits_layer.bias.copy_(torch.tensor([0.0, 0.0, 1.0]))
    return head


def feature_sides(grad: bool = False) -> tuple[Side, Side]:
    real = torch.tensor([[2.0, 0, 0, 0], [0, -1, 0, 0]], requires_grad=grad)
    fake = torch.tensor([[1.0, 1, 0, 0], [-1, 0, 0, 0]], requires_grad=grad)
    return (
        Side(images={}, labels=None, targets={}, features=real),
        Side(images={}, labels=None, targets={}, features=fake),
    )


# member logits: real (2, 0), (-2, 0), (1, 0); fake (1, -1), (-1, 1), (2, 1)
REAL = [(2.0, 0.0), (-2.0, 0.0), (1.0, 0.0)]
FAKE = [(1.0, -1.0), (-1.0, 1.0), (2.0, 1.0)]
G_LOSSES = [sum(sp(-v) for v in f) / 2 for f in FAKE]


def test_shared_trunk_d_terms_by_hand(ctx):
    real, fake = feature_sides()
    d = hand_head(ctx).d_terms(real, fake)
    assert list(d) == ["d0", "d1", "d2"]
    for i in range(3):
        expected = sum(sp(-v) for v in REAL[i]) / 2 + sum(sp(v) for v in FAKE[i]) / 2
        assert d[f"d{i}"].item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(
    "aggregator, expected",
    [
        ("mean", sum(G_LOSSES) / 3),
        ("max", max(G_LOSSES)),
        ("gman", None),
    ],
)
def test_g_aggregators_by_hand(ctx, aggregator, expected):
    real, fake = feature_sides()
    head = hand_head(ctx, aggregator=aggregator, gman_lambda=2.0)
    if expected is None:  # softmax(2 L) weighted mean
        e = [math.exp(2.0 * v) for v in G_LOSSES]
        expected = sum(w * v for w, v in zip(e, G_LOSSES)) / sum(e)
    g = head.g_terms(fake, real)
    assert list(g) == ["adv"]
    assert g["adv"].item() == pytest.approx(expected, rel=1e-6)


def test_gman_limits_are_mean_and_max(ctx):
    losses = torch.tensor([0.5, 2.0, 1.0])
    assert hand_head(ctx, aggregator="gman", gman_lambda=0.0).aggregate(losses).item() == (
        pytest.approx(losses.mean().item())
    )
    big = hand_head(ctx, aggregator="gman", gman_lambda=1000.0).aggregate(losses)
    assert big.item() == pytest.approx(2.0, rel=1e-5)


def test_gman_detached_gradient_is_the_softmax_weighted_mean_of_member_gradients(ctx):
    losses = torch.tensor([0.5, 2.0, 1.0], requires_grad=True)
    head = hand_head(ctx, aggregator="gman", gman_lambda=1.5, detach_weights=True)
    head.aggregate(losses).backward()
    assert torch.allclose(losses.grad, torch.softmax(1.5 * losses.detach(), 0))


def test_gman_weights_stay_in_the_generators_graph(ctx):
    losses = torch.tensor([0.5, 2.0, 1.0], requires_grad=True)
    soft = hand_head(ctx, aggregator="gman", gman_lambda=1.5).aggregate(losses)
    soft.backward()
    w = torch.softmax(1.5 * losses.detach(), 0)
    # d/dL_k sum_j w_j L_j with w = softmax(lambda L): w_k (1 + lambda (L_k - F))
    assert torch.allclose(losses.grad, w * (1 + 1.5 * (losses.detach() - soft.detach())))


def test_gman_learned_lambda_gradient_by_hand(ctx):
    head = hand_head(ctx, aggregator="gman_learned", gman_lambda=1.5, gman_reg=0.01)
    assert head.g_parameters() == [head.rho]
    assert head.gman_lambda().item() == pytest.approx(1.5, rel=1e-6)
    losses = torch.tensor([0.5, 2.0, 1.0])
    out = head.aggregate(losses)
    w = torch.softmax(1.5 * losses, 0)
    soft = (w * losses).sum()
    assert out.item() == pytest.approx(soft.item() - 0.01 * 1.5, rel=1e-6)
    out.backward()
    variance = (w * (losses - soft) ** 2).sum().item()  # d soft / d lambda
    dlam_drho = 1 - math.exp(-1.5)  # sigmoid(rho) with softplus(rho) = 1.5
    assert head.rho.grad.item() == pytest.approx((variance - 0.01) * dlam_drho, rel=1e-5)


def test_only_the_learned_aggregator_has_g_parameters(ctx):
    assert hand_head(ctx, aggregator="gman").g_parameters() == []
    assert not hasattr(hand_head(ctx, aggregator="gman"), "rho")


# ---------------------------------------------------------------- dropout


def test_dropout_keeps_each_with_probability_one_minus_d_and_at_least_one(ctx):
    head = hand_head(ctx, aggregator="dropout", dropout=0.7, k=3)
    masks = torch.stack([head.dropout_mask(3) for _ in range(3000)])
    assert (masks.sum(1) >= 1).all()
    # P(kept) = 0.3 plus the forced keeps: 0.7^3 / 3 per member
    assert masks.mean().item() == pytest.approx(0.3 + 0.343 / 3, abs=0.03)


def test_dropout_term_is_the_mean_of_the_kept_members(ctx):
    head = hand_head(ctx, aggregator="dropout", dropout=0.5)
    losses = torch.tensor([1.0, 2.0, 4.0])
    state = head.get_extra_state()
    mask = head.dropout_mask(3)
    head.set_extra_state(state)  # the same draw again
    expected = (losses * mask).sum() / mask.sum()
    assert head.aggregate(losses).item() == pytest.approx(expected.item())


def test_dropout_draws_reproduce_and_round_trip_the_state_dict(ctx):
    a = hand_head(ctx, aggregator="dropout", dropout=0.5)
    b = hand_head(ctx, aggregator="dropout", dropout=0.5)
    [a.dropout_mask(3) for _ in range(5)]
    b.load_state_dict(a.state_dict())
    assert all(torch.equal(a.dropout_mask(3), b.dropout_mask(3)) for _ in range(10))
    seen = {tuple(a.dropout_mask(3).tolist()) for _ in range(40)}
    assert len(seen) > 1  # the draws do change from batch to batch


def test_dropout_in_eval_mode_keeps_everything_and_draws_nothing(ctx):
    head = hand_head(ctx, aggregator="dropout", dropout=0.9).eval()
    state = head.get_extra_state()
    assert head.aggregate(torch.tensor([1.0, 2.0, 6.0])).item() == pytest.approx(3.0)
    assert head.get_extra_state() == state


# ---------------------------------------------------------------- separate: fused == looped


def pair(ctx, **cfg) -> tuple[EnsembleHead, EnsembleHead]:
    fused = make(ctx, fused=True, **cfg)
    looped = make(ctx, fused=False, **cfg)
    assert fused.fused and not looped.fused
    return fused, looped


def stacked_grads(looped: EnsembleHead, name: str) -> torch.Tensor:
    return torch.stack([dict(m.named_parameters())[name].grad for m in looped.members])


@pytest.mark.parametrize("vmap_devices", [("cpu", "cuda"), ("cuda",)], ids=["vmap", "sliced"])
def test_fused_and_looped_give_the_same_terms_and_gradients(ctx, monkeypatch, vmap_devices):
    monkeypatch.setattr(EnsembleHead, "vmap_devices", vmap_devices)
    fused, looped = pair(ctx, k=3)
    real, fake = image_side(images(seed=1)), image_side(images(seed=2, grad=True))
    outs = []
    for head in (fused, looped):
        fake.images["image"].grad = None
        d = head.d_terms(real, fake)
        g = head.g_terms(fake, real)
        (sum(d.values()) + g["adv"]).backward()
        outs.append((d, g, fake.images["image"].grad.clone()))
    (d1, g1, x1), (d2, g2, x2) = outs
    for k in d1:
        assert torch.allclose(d1[k], d2[k], atol=1e-5)
    assert torch.allclose(g1["adv"], g2["adv"], atol=1e-5)
    assert torch.allclose(x1, x2, atol=1e-5)
    for key, p in fused.stacked.named_parameters():
        ref = stacked_grads(looped, key.replace("__", "."))
        assert p.shape == ref.shape
        assert torch.allclose(p.grad, ref, atol=1e-5, rtol=1e-4), key


def test_member_logits_shape_and_each_member_is_a_trunk_plus_linear(ctx):
    fused, looped = pair(ctx, k=3)
    x = images(5)
    assert fused.member_logits(x).shape == (3, 5)
    m = looped.members[1]
    by_hand = m.trunk(x) @ m.out.weight[0] + m.out.bias[0]
    assert torch.allclose(looped.member_logits(x)[1], by_hand, atol=1e-6)
    assert torch.allclose(fused.member_logits(x), looped.member_logits(x), atol=1e-5)


def test_separate_d_terms_are_each_members_own_loss(ctx):
    head = make(ctx, k=2, fused=False, loss="hinge")
    real, fake = images(seed=1), images(seed=2)
    d = head.d_terms(image_side(real), image_side(fake))
    for i, m in enumerate(head.members):
        expected = torch.relu(1 - m(real)).mean() + torch.relu(1 + m(fake)).mean()
        assert d[f"d{i}"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_fused_parameters_are_registered_saved_and_trained(ctx):
    head = make(ctx, k=2)
    names = [n for n, _ in head.named_parameters()]
    assert names and all(n.startswith("stacked.") for n in names)
    assert set(head.state_dict()) >= {f"{n}" for n in names}
    x = images()
    before = head.member_logits(x).detach()
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)
    d = head.d_terms(image_side(images(seed=3)), image_side(x))
    sum(d.values()).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    opt.step()
    assert not torch.allclose(head.member_logits(x), before)
    other = make(ctx, k=2, seed=5)
    other.load_state_dict(head.state_dict())
    assert torch.allclose(other.member_logits(x), head.member_logits(x))


def test_members_differ_from_each_other(ctx):
    logits = make(ctx, k=3).member_logits(images())
    assert not torch.allclose(logits[0], logits[1])


def test_g_terms_reach_fake_images_but_not_the_real_side(ctx):
    head = make(ctx, k=2)
    real, fake = image_side(images(seed=1, grad=True)), image_side(images(seed=2, grad=True))
    head.g_terms(fake, real)["adv"].backward()
    assert fake.images["image"].grad.abs().sum() > 0
    assert real.images["image"].grad is None


def test_d_terms_of_one_member_reach_only_that_member(ctx):
    head = make(ctx, k=3, fused=False)
    d = head.d_terms(image_side(images(seed=1)), image_side(images(seed=2)))
    d["d1"].backward()
    touched = [
        any(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())
        for m in head.members
    ]
    assert touched == [False, True, False]


# ---------------------------------------------------------------- mixed members, layouts


def test_widths_and_scales_fall_back_to_the_loop(registry):
    ctx = context(registry, DataInfo(channels=1, size=32, num_classes=0))
    head = make(ctx, k=2, widths=[4, 8], scales=[1, 2], trunk={"type": "dcgan"})
    assert not head.fused
    assert [m.trunk.cfg.width for m in head.members] == [4, 8]
    assert [m.trunk.data.size for m in head.members] == [32, 16]
    x = torch.randn(3, 1, 32, 32)
    small = head.members[1]
    pooled = torch.nn.functional.avg_pool2d(x, 2)
    expected = small.out(small.trunk(pooled)).squeeze(-1)
    assert torch.allclose(head.member_logits(x)[1], expected)
    assert head.member_logits(x).shape == (2, 3)


def test_an_unsupported_member_size_names_the_member(ctx):
    with pytest.raises(ValueError, match="scale 4"):
        make(ctx, k=1, scales=[4])  # 16 / 4 = 4: the dcgan trunk has no 4x4 layout


SN_TRUNK = {**SMALL_TRUNK, "spectral_norm": True}


def sn_state(head: EnsembleHead) -> dict[str, torch.Tensor]:
    """Raw weights and power-iteration vectors by plain name, stacked over members."""
    if head.fused:
        out = {k.replace("__", "."): p for k, p in head.stacked.named_parameters()}
        out.update({k.replace("__", "."): b for k, b in head.stacked.named_buffers()})
        return out
    out = {}
    for name, _ in head.members[0].named_parameters():
        plain = name.replace("parametrizations.weight.original", "weight")
        out[plain] = torch.stack([dict(m.named_parameters())[name] for m in head.members])
    for name, _ in head.members[0].named_buffers():  # trunk.fc.parametrizations.weight.0._u
        module, vec = name.split(".parametrizations.weight.0.")
        stacked = torch.stack([dict(m.named_buffers())[name] for m in head.members])
        out[f"sn{vec}.{module}.weight"] = stacked
    return out


@pytest.mark.parametrize("vmap_devices", [("cpu", "cuda"), ("cuda",)], ids=["vmap", "sliced"])
def test_spectral_norm_members_fuse_and_match_the_loop_over_training_steps(
    ctx, monkeypatch, vmap_devices
):
    monkeypatch.setattr(EnsembleHead, "vmap_devices", vmap_devices)
    fused, looped = pair(ctx, k=3, trunk=SN_TRUNK)
    assert any(n.startswith("sn_u__") for n, _ in fused.stacked.named_buffers())
    heads = {"fused": fused, "looped": looped}
    opts = {k: torch.optim.SGD(h.parameters(), lr=0.5) for k, h in heads.items()}
    start = {k: v.clone() for k, v in sn_state(looped).items()}
    for step in range(3):  # power iterations and weight updates must stay in step
        real, fake = image_side(images(seed=step)), image_side(images(seed=10 + step))
        terms = {}
        for name, head in heads.items():
            opts[name].zero_grad()
            d = head.d_terms(real, fake)
            g = head.g_terms(fake, real)["adv"]
            (sum(d.values()) + g).backward()
            opts[name].step()
            terms[name] = torch.stack([*d.values(), g])
        assert torch.allclose(terms["fused"], terms["looped"], atol=1e-5)
    a, b = sn_state(fused), sn_state(looped)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-5), key
        assert not torch.allclose(b[key], start[key]), key  # u, v and weights all moved


def test_spectral_norm_vectors_stay_put_in_eval_mode(ctx):
    head = make(ctx, k=2, trunk=SN_TRUNK).eval()
    before = [b.clone() for b in head.stacked.buffers()]
    head.member_logits(images())
    assert all(torch.equal(x, y) for x, y in zip(before, head.stacked.buffers()))
    head.train().member_logits(images())
    assert not all(torch.equal(x, y) for x, y in zip(before, head.stacked.buffers()))


def test_fused_spectral_norm_state_round_trips_through_the_state_dict(ctx):
    head = make(ctx, k=2, trunk=SN_TRUNK)
    head.member_logits(images())  # one power iteration: the vectors now differ from a new head
    other = make(ctx, k=2, trunk=SN_TRUNK, seed=7)
    assert any(k.startswith("stacked.sn_u__") for k in head.state_dict())
    other.load_state_dict(head.state_dict())
    for a, b in zip(head.stacked.buffers(), other.stacked.buffers()):
        assert torch.equal(a, b)
    x = images(seed=4)
    assert torch.equal(head.member_logits(x), other.member_logits(x))


def test_fused_spectral_norm_divides_each_weight_by_its_largest_singular_value(ctx):
    head = make(ctx, k=2, trunk=SN_TRUNK)
    for _ in range(300):  # power iterations converge to the top singular vectors
        params = head.stacked.stacked_params()
    for name in head.stacked.sn_names:
        top = torch.linalg.matrix_norm(params[name].flatten(2), ord=2)
        assert torch.allclose(top, torch.ones(2), atol=1e-3), name


class StandInTrunk(nn.Module):
    """A stand-in trunk, flatten -> linear -> ``last``, for members with unusual layers."""

    feature_dim = 4

    def __init__(self, last: nn.Module) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(256, 4), last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def test_members_with_other_buffers_are_looped(ctx):
    ctx.build_trunk = lambda spec: StandInTrunk(nn.BatchNorm1d(4))  # batch statistics
    head = make(ctx, k=2)
    assert not head.fused
    d = head.d_terms(image_side(images(seed=1)), image_side(images(seed=2)))
    assert all(torch.isfinite(v) for v in d.values())


def test_fused_members_follow_train_and_eval_mode(ctx):
    ctx.build_trunk = lambda spec: StandInTrunk(nn.Dropout(0.5))  # random only in training
    fused, looped = pair(ctx, k=2)
    x = images()
    fused.eval()
    looped.eval()
    assert torch.allclose(fused.member_logits(x), looped.member_logits(x), atol=1e-6)
    assert torch.equal(fused.member_logits(x), fused.member_logits(x))
    fused.train()
    assert not torch.equal(fused.member_logits(x), fused.member_logits(x))


def test_layout_decides_whether_the_shared_trunk_runs(ctx):
    separate = make(ctx, k=2)
    shared = make(ctx, layout="shared_trunk", k=2)
    assert separate.uses_trunk_features is False and shared.uses_trunk_features is True
    assert not Discriminator(nn.Identity(), {"e": separate}, {}).uses_trunk
    assert Discriminator(nn.Identity(), {"e": shared}, {}).uses_trunk


def test_shared_trunk_terms_reach_features_and_head_only(ctx):
    head = hand_head(ctx)
    real, fake = feature_sides(grad=True)
    sum(head.d_terms(real, fake).values()).backward()
    assert real.features.grad.abs().sum() > 0 and fake.features.grad.abs().sum() > 0
    assert all(p.grad is not None for p in head.parameters())
    real, fake = feature_sides(grad=True)
    head.g_terms(fake, real)["adv"].backward()
    assert fake.features.grad.abs().sum() > 0 and real.features.grad is None


@pytest.mark.parametrize("layout", ["separate", "shared_trunk"])
def test_score_is_the_members_mean_logit(ctx, layout):
    head = make(ctx, k=3, layout=layout)
    x = images(seed=3)
    side = image_side(x)
    side.features = torch.randn(x.shape[0], F_DIM)
    assert torch.allclose(head.score(side), head.logits(side).mean(0))
    assert head.score(side).shape == (x.shape[0],)


def test_spectral_norm_divides_each_output_row_by_its_norm(ctx):
    head = hand_head(ctx, spectral_norm=True)
    with torch.no_grad():
        head.logits_layer.weight.mul_(torch.tensor([[3.0], [0.5], [2.0]]))
    real, _ = feature_sides()
    # rows are unit vectors again: logits f0, -f0, f1 + 1
    assert torch.allclose(head.logits(real), torch.tensor([[2.0, 0.0], [-2.0, 0.0], [1.0, 0.0]]))


@pytest.mark.parametrize(
    "loss, d_unbounded, g_unbounded",
    [("ns", False, False), ("hinge", False, True), ("wasserstein", True, True)],
)
def test_unbounded_terms_follow_the_loss_family(ctx, loss, d_unbounded, g_unbounded):
    head = make(ctx, k=2, layout="shared_trunk", loss=loss)
    assert head.unbounded_terms("d") == ({"d0", "d1"} if d_unbounded else set())
    assert head.unbounded_terms("g") == ({"adv"} if g_unbounded else set())
    learned = make(ctx, k=2, layout="shared_trunk", aggregator="gman_learned")
    assert learned.unbounded_terms("g") == {"adv"}  # the - gman_reg * lambda term


# ---------------------------------------------------------------- config and checks


def test_config_errors():
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        EnsembleHead.Config(k=0)
    with pytest.raises(ValidationError, match="aggregator"):
        EnsembleHead.Config(k=2, aggregator="median")
    with pytest.raises(ValidationError):
        EnsembleHead.Config(k=2, weight=1.0)
    with pytest.raises(ValidationError):
        EnsembleHead.Config(k=2, dropout=1.0)


@pytest.mark.parametrize(
    "cfg, problem",
    [
        ({"k": 2, "widths": [8]}, "widths has 1 entries; k is 2"),
        ({"k": 2, "scales": [1, 2, 2]}, "scales has 3 entries"),
        ({"k": 1, "scales": [3]}, "scale 3 does not divide the image size 16"),
        ({"k": 2, "aggregator": "gman_learned", "gman_lambda": 0.0}, "gman_lambda > 0"),
        ({"k": 2, "trunk": {"width": 8}}, "trunk must name a trunk plugin"),
        ({"k": 2, "layout": "shared_trunk", "fused": False}, "fused applies only"),
    ],
)
def test_check_reports_specs_that_cannot_work(cfg, problem):
    problems = EnsembleHead.check(EnsembleHead.Config(**cfg), DATA)
    assert any(problem in p for p in problems), problems
    assert EnsembleHead.check(EnsembleHead.Config(k=2), DATA) == []


def test_k_below_one_is_a_spec_error_before_training(registry):
    from mtbench.errors import SpecError
    from mtbench.spec import resolve

    spec = {
        "name": "x",
        "dataset": {"type": "digits"},
        "generator": {"type": "dcgan"},
        "discriminator": {"trunk": {"type": "dcgan"}, "heads": [{"type": "ensemble", "k": 0}]},
    }
    with pytest.raises(SpecError, match=r"discriminator.heads\[0\].k: Input should be greater"):
        resolve(spec, registry)


def test_gman_learned_lambda_is_trained_by_the_generator_optimizer():
    import torch
    from helpers import tiny_spec

    from mtbench import spec as S
    from mtbench.compose import compose
    from mtbench.registry import Registry
    from mtbench.train.loop import Trainer

    s = tiny_spec()
    s["discriminator"]["heads"] = [
        {"type": "ensemble", "k": 2, "layout": "shared_trunk", "aggregator": "gman_learned"}
    ]
    reg = Registry.discover()
    r = S.resolve(s, reg)
    t = Trainer.from_spec(r, compose(r, reg, torch.device("cpu")), torch.device("cpu"))
    rho = t.D.heads["ensemble"].rho
    assert any(q is rho for q in t.g_params) and not any(q is rho for q in t.d_params)
    before = rho.detach().clone()
    for _ in range(3):
        t.train_step(timed=False)
    assert not torch.equal(before, rho.detach())
