"""TAC-GAN twin auxiliary classifier head: terms by hand, gradient reach, checks, a tiny run."""

import pytest
import torch
from helpers import ce, feature_side, make_head, tiny_spec
from torch import nn

from mtbench.api import DataInfo, Side
from mtbench.compose import compose
from mtbench.spec import resolve
from mtbench.train.loop import Trainer
from mtbench_plugins.heads import twin_aux_classifier
from mtbench_plugins.heads.twin_aux_classifier import TwinAuxClassifierHead

D = 8


def make(num_classes: int = 3, **cfg) -> TwinAuxClassifierHead:
    return make_head(TwinAuxClassifierHead, DataInfo(1, 16, num_classes), D, **cfg)


def hand_head() -> TwinAuxClassifierHead:
    """classifier logits = features 0..2, twin logits = features 3..5."""
    head = make()
    with torch.no_grad():
        for layer, first in ((head.classifier, 0), (head.twin, 3)):
            layer.weight.zero_()
            layer.bias.zero_()
            layer.weight[:, first : first + 3] = torch.eye(3)
    return head


def sides(grad: bool = False) -> tuple[Side, Side]:
    real = feature_side([[2, 1, 0, 0, 0, 1], [0, 3, 1, 1, 0, 0]], [0, 1], grad)
    fake = feature_side([[1, 1, 0, 2, 0, 0], [-1, 0, 0, 0, 1, 3]], [1, 2], grad)
    return real, fake


def grads(head: nn.Module, loss: torch.Tensor) -> set[str]:
    head.zero_grad(set_to_none=True)
    loss.backward()
    return {n for n, p in head.named_parameters() if p.grad is not None and p.grad.abs().sum()}


def test_registered_with_config_and_doc():
    assert twin_aux_classifier.mtbench_heads() == [TwinAuxClassifierHead]
    cls = TwinAuxClassifierHead
    assert cls.kind == "head" and cls.name == "twin_aux_classifier" and cls.description
    assert "Gong" in cls.__doc__
    with pytest.raises(ValueError):
        cls.Config(weight=2.0)


def test_output_shapes():
    head = make()
    real, _ = sides()
    assert head.classifier(real.features).shape == (2, 3)
    assert head.twin(real.features).shape == (2, 3)


def test_terms_by_hand():
    real, fake = sides()
    head = hand_head()
    d, g = head.d_terms(real, fake), head.g_terms(fake, real)
    assert set(d) == {"ac_real", "twin_fake"} and set(g) == {"ac_fake", "neg_twin_fake"}
    twin_fake = (ce([2, 0, 0], 1) + ce([0, 1, 3], 2)) / 2
    assert d["ac_real"].item() == pytest.approx((ce([2, 1, 0], 0) + ce([0, 3, 1], 1)) / 2)
    assert d["twin_fake"].item() == pytest.approx(twin_fake)
    assert g["ac_fake"].item() == pytest.approx((ce([1, 1, 0], 1) + ce([-1, 0, 0], 2)) / 2)
    assert g["neg_twin_fake"].item() == pytest.approx(-twin_fake)


def test_each_term_reaches_only_its_classifier():
    head = hand_head()
    expected = {
        "ac_real": {"classifier.weight", "classifier.bias"},
        "twin_fake": {"twin.weight", "twin.bias"},
        "ac_fake": {"classifier.weight", "classifier.bias"},
        "neg_twin_fake": {"twin.weight", "twin.bias"},
    }
    for name, params in expected.items():
        real, fake = sides(grad=True)
        terms = {**head.d_terms(real, fake), **head.g_terms(fake, real)}
        assert grads(head, terms[name]) == params, name


def test_d_terms_reach_both_sides_g_terms_only_the_fake():
    head = hand_head()
    real, fake = sides(grad=True)
    sum(head.d_terms(real, fake).values()).backward()
    assert real.features.grad.abs().sum() > 0 and fake.features.grad.abs().sum() > 0
    real, fake = sides(grad=True)
    sum(head.g_terms(fake, real).values()).backward()
    assert fake.features.grad.abs().sum() > 0 and real.features.grad is None


def test_only_the_negated_twin_term_is_unbounded():
    head = make()
    assert head.unbounded_terms("g") == {"neg_twin_fake"}
    assert head.unbounded_terms("d") == set()


def test_needs_labels():
    cfg = TwinAuxClassifierHead.Config()
    problems = TwinAuxClassifierHead.check(cfg, DataInfo(1, 16, 0))
    assert len(problems) == 1 and "labels" in problems[0]
    assert TwinAuxClassifierHead.check(cfg, DataInfo(1, 16, 3)) == []
    with pytest.raises(ValueError, match="labels"):
        make(num_classes=0)


def test_spectral_norm_option_keeps_terms_finite():
    head = make(spectral_norm=True)
    real, fake = sides()
    assert all(torch.isfinite(v) for v in head.d_terms(real, fake).values())


def test_discovered_and_trains_in_a_tiny_run(registry):
    assert registry.get("head", "twin_aux_classifier") is TwinAuxClassifierHead
    spec = tiny_spec()
    spec["discriminator"]["heads"] = [{"type": "adversarial"}, {"type": "twin_aux_classifier"}]
    r = resolve(spec, registry)
    trainer = Trainer.from_spec(r, compose(r, registry, torch.device("cpu")), torch.device("cpu"))
    d, g = trainer.train_step(False)
    assert {"twin_aux_classifier/ac_real", "twin_aux_classifier/twin_fake"} <= set(d)
    assert {"twin_aux_classifier/ac_fake", "twin_aux_classifier/neg_twin_fake"} <= set(g)
