"""InfoGAN latent regression head: codes asked for, CE and Gaussian NLL by hand, gradients."""

import math

import pytest
import torch
from helpers import ce, make_head, tiny_spec

from mtbench.api import DataInfo, LatentCode, Side
from mtbench.compose import compose
from mtbench.spec import SpecError, resolve
from mtbench.train.loop import Trainer
from mtbench_plugins.heads import latent_regression
from mtbench_plugins.heads.latent_regression import LatentRegressionHead, own_code

D = 8
Head = LatentRegressionHead
# Q (linear, identity) reads: cat logits = f0..f2, means = f3, f4, log-variances = f5, f6
ROWS = [[2.0, 1.0, 0.0, 0.5, -0.5, 0.0, 1.0], [0.0, 0.0, 3.0, 0.0, 0.0, -1.0, 20.0]]
CAT = [0, 1]
CONT = [[1.0, 0.0], [0.5, -0.25]]


def make(**cfg) -> LatentRegressionHead:
    return make_head(Head, DataInfo(1, 16, 0), D, **cfg)


def hand_head() -> LatentRegressionHead:
    head = make(categorical=3, continuous=2, hidden=0)
    (q,) = head.q
    with torch.no_grad():
        q.weight.copy_(torch.eye(7, D))
        q.bias.zero_()
    return head


def fake_side(codes: dict | None = None, grad: bool = False) -> Side:
    f = torch.zeros(2, D)
    f[:, :7] = torch.tensor(ROWS)
    if codes is None:
        codes = {"cat": torch.tensor(CAT), "cont": torch.tensor(CONT)}
    return Side({}, None, {}, f.requires_grad_(grad), codes)


def junk_side(grad: bool = False) -> Side:
    return Side({}, None, {}, torch.full((2, D), float("nan")).requires_grad_(grad))


def nll(x: float, mean: float, logvar: float) -> float:
    logvar = min(max(logvar, -8.0), 8.0)
    return 0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 / math.exp(logvar))


def test_registered_with_config_and_doc():
    assert latent_regression.mtbench_heads() == [Head]
    assert Head.kind == "head" and Head.name == "latent_regression" and Head.description
    assert "InfoGAN" in Head.__doc__
    with pytest.raises(ValueError):
        Head.Config(weight=2.0)
    with pytest.raises(ValueError):
        Head.Config(categorical=-1)


def test_latent_codes_follow_the_config():
    assert Head.latent_codes(Head.Config()) == {
        "cat": LatentCode("categorical", 10),
        "cont": LatentCode("continuous", 2),
    }
    assert Head.latent_codes(Head.Config(categorical=0)) == {"cont": LatentCode("continuous", 2)}
    assert Head.latent_codes(Head.Config(continuous=0)) == {"cat": LatentCode("categorical", 10)}


def test_needs_at_least_one_code():
    cfg = Head.Config(categorical=0, continuous=0)
    problems = Head.check(cfg, DataInfo(1, 16, 0))
    assert len(problems) == 1 and "code" in problems[0]
    assert Head.check(Head.Config(), DataInfo(1, 16, 0)) == []
    with pytest.raises(ValueError, match="code"):
        make(categorical=0, continuous=0)


def test_q_output_width():
    assert make(categorical=4, continuous=3).q(torch.randn(5, D)).shape == (5, 4 + 2 * 3)


def test_terms_by_hand_on_fakes_only():
    head = hand_head()
    fake = fake_side()
    d, g = head.d_terms(junk_side(), fake), head.g_terms(fake, junk_side())
    assert set(d) == set(g) == {"cat", "cont"}
    cat = (ce(ROWS[0][:3], CAT[0]) + ce(ROWS[1][:3], CAT[1])) / 2
    cont = (
        sum(nll(CONT[i][k], ROWS[i][3 + k], ROWS[i][5 + k]) for i in range(2) for k in range(2)) / 2
    )  # summed over code dimensions, averaged over the batch; log-variance 20 clamps to 8
    for terms in (d, g):
        assert terms["cat"].item() == pytest.approx(cat, rel=1e-6)
        assert terms["cont"].item() == pytest.approx(cont, rel=1e-6)


def test_only_enabled_codes_give_terms():
    head = make(categorical=0, continuous=3)
    fake = Side({}, None, {}, torch.randn(4, D), {"cont": torch.rand(4, 3)})
    assert set(head.d_terms(junk_side(), fake)) == {"cont"}
    assert head.unbounded_terms("d") == head.unbounded_terms("g") == {"cont"}
    assert make(continuous=0).unbounded_terms("g") == set()  # cross-entropy is >= 0


def test_a_missing_code_is_a_clear_error():
    t = torch.tensor([1, 2])
    assert own_code({"cat": t}, "cat") is t
    with pytest.raises(ValueError, match="'cat'"):
        own_code({"cont": t}, "cat")
    with pytest.raises(ValueError, match="'cat'"):
        hand_head().g_terms(fake_side({"info/cat": t, "info/cont": t}), junk_side())


def test_d_and_g_terms_reach_q_and_the_fake_features_only():
    for step in ("d", "g"):
        head = hand_head()
        fake, real = fake_side(grad=True), junk_side(grad=True)
        terms = head.d_terms(real, fake) if step == "d" else head.g_terms(fake, real)
        sum(terms.values()).backward()
        for name, p in head.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (step, name)
        assert fake.features.grad.abs().sum() > 0 and real.features.grad is None


def test_spec_with_no_codes_is_reported_before_training(registry):
    spec = tiny_spec()
    spec["discriminator"]["heads"] = [
        {"type": "adversarial"},
        {"type": "latent_regression", "categorical": 0, "continuous": 0},
    ]
    with pytest.raises(SpecError, match=r"discriminator.heads\[1\]: .*code"):
        resolve(spec, registry)


def test_discovered_feeds_codes_to_the_generator_and_trains(registry):
    assert registry.get("head", "latent_regression") is Head
    spec = tiny_spec()
    head = {"type": "latent_regression", "label": "info", "categorical": 3, "continuous": 2}
    spec["discriminator"]["heads"] = [{"type": "adversarial"}, head]
    r = resolve(spec, registry)
    parts = compose(r, registry, torch.device("cpu"))
    assert set(parts.codes) == {"info/cat", "info/cont"}
    assert parts.generator.ctx.code_dim == 5
    d, g = Trainer.from_spec(r, parts, torch.device("cpu")).train_step(False)
    assert {"info/cat", "info/cont"} <= set(d) & set(g)  # codes reached the head unprefixed
    assert all(torch.isfinite(v) for v in [*d.values(), *g.values()])
