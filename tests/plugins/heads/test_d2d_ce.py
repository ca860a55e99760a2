"""ReACGAN D2D-CE head: the loss by hand (margins, masks), gradient reach, checks, a tiny run."""

import math

import pytest
import torch
from helpers import feature_side, make_head, tiny_spec

from mtbench.api import DataInfo
from mtbench.compose import compose
from mtbench.spec import resolve
from mtbench.train.loop import Trainer
from mtbench_plugins.heads import d2d_ce
from mtbench_plugins.heads.d2d_ce import D2DCEHead

D = 8
ROWS = [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 2]]
PROXIES = [[2, 0, 0], [0, 1, 1], [1, 1, 1]]
LABELS = [0, 0, 1, 2]


def make(num_classes: int = 3, **cfg) -> D2DCEHead:
    return make_head(D2DCEHead, DataInfo(1, 16, num_classes), D, **cfg)


def hand_head(**cfg) -> D2DCEHead:
    """Embedding = features 0..2 (then normalised); proxies = PROXIES (then normalised)."""
    head = make(embed_dim=3, **cfg)
    with torch.no_grad():
        head.embedding.project.weight.zero_()
        head.embedding.project.bias.zero_()
        head.embedding.project.weight[:, :3] = torch.eye(3)
        head.embedding.proxies.weight.copy_(torch.tensor(PROXIES, dtype=torch.float32))
    return head


def unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def hand_d2d(rows: list[list[float]], labels: list[int], t: float, mp: float, mn: float) -> float:
    """ReACGAN's eq.: -log(exp a / (exp a + sum over other-class samples of exp b))."""
    emb = [unit(r) for r in rows]
    total = 0.0
    for e, y in zip(emb, labels):
        a = min(dot(e, unit(PROXIES[y])) - mp, 0.0) / t
        negs = [j for j in range(len(rows)) if labels[j] != y]
        b = sum(math.exp(max(dot(e, emb[j]) - mn, 0.0) / t) for j in negs)
        total += -math.log(math.exp(a) / (math.exp(a) + b))
    return total / len(rows)


def test_registered_with_config_and_doc():
    assert d2d_ce.mtbench_heads() == [D2DCEHead]
    assert D2DCEHead.kind == "head" and D2DCEHead.name == "d2d_ce" and D2DCEHead.description
    assert "Kang" in D2DCEHead.__doc__
    with pytest.raises(ValueError):
        D2DCEHead.Config(weight=2.0)
    with pytest.raises(ValueError):
        D2DCEHead.Config(pos_margin=1.5)


@pytest.mark.parametrize(("t", "mp", "mn"), [(0.5, 0.9, 0.3), (1.0, 0.98, 0.02), (0.25, 0.5, -0.5)])
def test_terms_by_hand(t, mp, mn):
    # (0.5, 0.9, 0.3): sample 0's proxy similarity 1 > m_p clamps to 0; its negatives 0 < m_n
    head = hand_head(temperature=t, pos_margin=mp, neg_margin=mn)
    real, fake = feature_side(ROWS, LABELS), feature_side(ROWS[::-1], LABELS)
    d, g = head.d_terms(real, fake), head.g_terms(fake, real)
    assert set(d) == {"d2d_real"} and set(g) == {"d2d_fake"}
    assert d["d2d_real"].item() == pytest.approx(hand_d2d(ROWS, LABELS, t, mp, mn), rel=1e-5)
    assert g["d2d_fake"].item() == pytest.approx(hand_d2d(ROWS[::-1], LABELS, t, mp, mn), rel=1e-5)


def test_same_class_samples_are_not_negatives():
    """One class: no negatives, so every sample's loss is -a + log(exp a) = 0."""
    head = hand_head(pos_margin=0.5)
    real = feature_side(ROWS, [1, 1, 1, 1])
    assert head.d_terms(real, None)["d2d_real"].item() == pytest.approx(0.0)


def test_margins_silence_easy_pairs():
    """Proxy similarity above m_p and negatives below m_n: loss log 2 per sample, no gradient."""
    head = hand_head(pos_margin=0.5, neg_margin=0.5)
    rows = [[2, 0, 0], [0, 1, 1]]  # each on its own class proxy, orthogonal to each other
    real = feature_side(rows, [0, 1], grad=True)
    loss = head.d_terms(real, None)["d2d_real"]
    assert loss.item() == pytest.approx(math.log(2.0))
    loss.backward()
    assert real.features.grad.abs().sum() == 0


def test_d_term_reaches_projection_proxies_and_real_only():
    head = hand_head()
    real, fake = feature_side(ROWS, LABELS, True), feature_side(ROWS, [0, 1, 1, 2], True)
    head.d_terms(real, fake)["d2d_real"].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert real.features.grad.abs().sum() > 0 and fake.features.grad is None


def test_g_term_reaches_the_fake_side_only():
    head = hand_head()
    real, fake = feature_side(ROWS, LABELS, True), feature_side(ROWS, [0, 1, 1, 2], True)
    head.g_terms(fake, real)["d2d_fake"].backward()
    assert fake.features.grad.abs().sum() > 0 and real.features.grad is None


def test_needs_labels():
    problems = D2DCEHead.check(D2DCEHead.Config(), DataInfo(1, 16, 0))
    assert len(problems) == 1 and "labels" in problems[0]
    assert D2DCEHead.check(D2DCEHead.Config(), DataInfo(1, 16, 3)) == []
    with pytest.raises(ValueError, match="labels"):
        make(num_classes=0)


def test_discovered_and_trains_in_a_tiny_run(registry):
    assert registry.get("head", "d2d_ce") is D2DCEHead
    spec = tiny_spec()
    head = {"type": "d2d_ce", "embed_dim": 16, "spectral_norm": True}
    spec["discriminator"]["heads"] = [{"type": "adversarial"}, head]
    r = resolve(spec, registry)
    trainer = Trainer.from_spec(r, compose(r, registry, torch.device("cpu")), torch.device("cpu"))
    d, g = trainer.train_step(False)
    assert torch.isfinite(d["d2d_ce/d2d_real"]) and torch.isfinite(g["d2d_ce/d2d_fake"])


def hand_studiogan(rows: list[list[float]], labels: list[int], t: float, mp: float) -> float:
    """StudioGAN's Data2DataCrossEntropyLoss.forward, step by step, in plain Python."""
    emb = [unit(r) for r in rows]
    n = len(rows)
    total = 0.0
    for i, y in enumerate(labels):
        sims = [(dot(emb[i], emb[j]) + mp - 1) / t for j in range(n) if j != i]
        top = max(sims)
        others = [j for j in range(n) if j != i]
        neg = sum(math.exp(max(s, 0.0) - top) for s, j in zip(sims, others) if labels[j] != y)
        pos = max((mp - dot(emb[i], unit(PROXIES[y]))) / t, 0.0)
        total += pos + math.log(math.exp(-pos) + neg)
    return total / n


@pytest.mark.parametrize(("t", "mp"), [(0.5, 0.98), (1.0, 0.5)])
def test_studiogan_variant_by_hand(t, mp):
    head = hand_head(temperature=t, pos_margin=mp, variant="studiogan")
    real, fake = feature_side(ROWS, LABELS), feature_side(ROWS[::-1], LABELS)
    got = head.d_terms(real, fake)["d2d_real"].item()
    assert got == pytest.approx(hand_studiogan(ROWS, LABELS, t, mp), rel=1e-5)
    assert got != pytest.approx(hand_d2d(ROWS, LABELS, t, mp, 1 - mp), rel=1e-3)


def test_defaults_are_studiogans_reacgan_cifar10():
    c = D2DCEHead.Config()
    assert (c.embed_dim, c.temperature, c.pos_margin, c.neg_margin) == (512, 0.5, 0.98, 0.02)
