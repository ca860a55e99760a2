"""ContraGAN 2C head: the loss by hand (masks, temperature), gradient reach, checks, a tiny run."""

import math

import pytest
import torch
from helpers import feature_side, make_head, tiny_spec

from mtbench.api import DataInfo
from mtbench.compose import compose
from mtbench.spec import resolve
from mtbench.train.loop import Trainer
from mtbench_plugins.heads import contrastive_2c
from mtbench_plugins.heads.contrastive_2c import Contrastive2CHead

D = 8
ROWS = [[1, 0, 0], [1, 1, 0], [0, 1, 0], [0, 1, 2]]
PROXIES = [[2, 0, 0], [0, 1, 1], [1, 1, 1]]


def make(num_classes: int = 3, **cfg) -> Contrastive2CHead:
    return make_head(Contrastive2CHead, DataInfo(1, 16, num_classes), D, **cfg)


def hand_head(**cfg) -> Contrastive2CHead:
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


def hand_2c(rows: list[list[float]], labels: list[int], t: float) -> float:
    """The paper's formula, sample by sample."""
    emb = [unit(r) for r in rows]
    total = 0.0
    for i, (e, y) in enumerate(zip(emb, labels)):
        to_proxy = math.exp(dot(e, unit(PROXIES[y])) / t)
        others = [j for j in range(len(rows)) if j != i]
        pos = sum(math.exp(dot(e, emb[j]) / t) for j in others if labels[j] == y)
        every = sum(math.exp(dot(e, emb[j]) / t) for j in others)
        total += -math.log((to_proxy + pos) / (to_proxy + every))
    return total / len(rows)


def test_registered_with_config_and_doc():
    assert contrastive_2c.mtbench_heads() == [Contrastive2CHead]
    cls = Contrastive2CHead
    assert cls.kind == "head" and cls.name == "contrastive_2c" and cls.description
    assert "Kang" in cls.__doc__
    with pytest.raises(ValueError):
        cls.Config(weight=2.0)
    with pytest.raises(ValueError):
        cls.Config(temperature=0.0)


def test_embeddings_and_proxies_are_unit_vectors():
    head = make(embed_dim=5)
    embed, proxy = head.embedding(torch.randn(4, D), torch.tensor([0, 1, 2, 0]))
    assert embed.shape == proxy.shape == (4, 5)
    assert torch.allclose(embed.norm(dim=1), torch.ones(4))
    assert torch.allclose(proxy.norm(dim=1), torch.ones(4))


@pytest.mark.parametrize("t", [1.0, 0.5])
def test_terms_by_hand(t):
    labels = [0, 0, 1, 2]  # 0 and 1 are each other's positives; 2 and 3 have only the proxy
    head = hand_head(temperature=t)
    real, fake = feature_side(ROWS, labels), feature_side(ROWS[::-1], labels)
    d, g = head.d_terms(real, fake), head.g_terms(fake, real)
    assert set(d) == {"2c_real"} and set(g) == {"2c_fake"}
    assert d["2c_real"].item() == pytest.approx(hand_2c(ROWS, labels, t), rel=1e-5)
    assert g["2c_fake"].item() == pytest.approx(hand_2c(ROWS[::-1], labels, t), rel=1e-5)


def test_one_class_batch_has_zero_loss():
    """Every other sample is a positive, so numerator and denominator are equal."""
    head = hand_head()
    real = feature_side(ROWS, [1, 1, 1, 1])
    assert head.d_terms(real, None)["2c_real"].item() == pytest.approx(0.0)


def test_d_term_reaches_projection_proxies_and_real_only():
    head = hand_head()
    real, fake = feature_side(ROWS, [0, 0, 1, 2], True), feature_side(ROWS, [0, 1, 1, 2], True)
    head.d_terms(real, fake)["2c_real"].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert real.features.grad.abs().sum() > 0 and fake.features.grad is None


def test_g_term_reaches_the_fake_side_only():
    head = hand_head()
    real, fake = feature_side(ROWS, [0, 0, 1, 2], True), feature_side(ROWS, [0, 1, 1, 2], True)
    head.g_terms(fake, real)["2c_fake"].backward()
    assert fake.features.grad.abs().sum() > 0 and real.features.grad is None


def test_needs_labels():
    cfg = Contrastive2CHead.Config()
    problems = Contrastive2CHead.check(cfg, DataInfo(1, 16, 0))
    assert len(problems) == 1 and "labels" in problems[0]
    assert Contrastive2CHead.check(cfg, DataInfo(1, 16, 3)) == []
    with pytest.raises(ValueError, match="labels"):
        make(num_classes=0)


def test_discovered_and_trains_in_a_tiny_run(registry):
    assert registry.get("head", "contrastive_2c") is Contrastive2CHead
    spec = tiny_spec()
    head = {"type": "contrastive_2c", "embed_dim": 16, "spectral_norm": True}
    spec["discriminator"]["heads"] = [{"type": "adversarial"}, head]
    r = resolve(spec, registry)
    trainer = Trainer.from_spec(r, compose(r, registry, torch.device("cpu")), torch.device("cpu"))
    d, g = trainer.train_step(False)
    assert "contrastive_2c/2c_real" in d and "contrastive_2c/2c_fake" in g
    assert torch.isfinite(d["contrastive_2c/2c_real"]) and torch.isfinite(
        g["contrastive_2c/2c_fake"]
    )


def test_defaults_are_studiogans_contragan_cifar10():
    c = Contrastive2CHead.Config()
    assert (c.embed_dim, c.temperature) == (512, 1.0)
