"""Attribute head: one CE/MSE sub-head per data-set target, by hand; G only on known targets."""

import pytest
import torch
from helpers import ce, make_head, tiny_spec

from mtbench.api import DataInfo, Side, TargetInfo
from mtbench.compose import compose
from mtbench.spec import SpecError, resolve
from mtbench.train.loop import Trainer
from mtbench_plugins.heads import attribute
from mtbench_plugins.heads.attribute import AttributeHead

D = 8
INFO = DataInfo(
    1,
    16,
    6,
    targets={
        "shape": TargetInfo("class", num_classes=3),
        "colour": TargetInfo("class", num_classes=2),
        "position": TargetInfo("continuous", dim=2),
        "edges": TargetInfo("image", shape=(1, 16, 16)),
    },
)
# shape logits = f0..f2, colour logits = f3, f4, position = f5, f6
REAL = [[2.0, 1.0, 0.0, 1.0, 0.0, 0.5, -0.5], [0.0, 3.0, 1.0, 0.0, 2.0, 0.0, 1.0]]
FAKE = [[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 2.0, -1.0, 0.0, 1.0, 1.0]]
SLICES = {"shape": (0, 3), "colour": (3, 5), "position": (5, 7)}


def make(info: DataInfo = INFO, **cfg) -> AttributeHead:
    return make_head(AttributeHead, info, D, **cfg)


def hand_head(**cfg) -> AttributeHead:
    head = make(**cfg)
    with torch.no_grad():
        for name, layer in head.tasks.items():
            a, b = SLICES[name]
            layer.weight.zero_()
            layer.bias.zero_()
            layer.weight[:, a:b] = torch.eye(b - a)
    return head


def side(rows: list[list[float]], targets: dict, grad: bool = False) -> Side:
    f = torch.zeros(len(rows), D)
    f[:, :7] = torch.tensor(rows)
    return Side({}, None, targets, f.requires_grad_(grad))


def sides(grad: bool = False) -> tuple[Side, Side]:
    real_targets = {
        "shape": torch.tensor([0, 2]),
        "colour": torch.tensor([1, 1]),
        "size": torch.tensor([0, 1]),  # not learnt: not in INFO
        "position": torch.tensor([[1.0, 0.0], [0.0, 0.0]]),
    }
    fake_targets = {"shape": torch.tensor([1, 0]), "colour": torch.tensor([0, 1])}
    return side(REAL, real_targets, grad), side(FAKE, fake_targets, grad)


def test_registered_with_config_and_doc():
    assert attribute.mtbench_heads() == [AttributeHead]
    cls = AttributeHead
    assert cls.kind == "head" and cls.name == "attribute" and cls.description and cls.__doc__
    with pytest.raises(ValueError):
        cls.Config(weight=2.0)
    with pytest.raises(ValueError):
        cls.Config(targets=[])


def test_one_sub_head_per_class_or_continuous_target():
    head = make()
    assert list(head.tasks) == ["shape", "colour", "position"]  # not the image target
    x = torch.randn(4, D)
    assert [head.tasks[n](x).shape[1] for n in head.tasks] == [3, 2, 2]
    assert list(make(targets=["position", "shape"]).tasks) == ["position", "shape"]


def test_terms_by_hand():
    head = hand_head()
    real, fake = sides()
    d, g = head.d_terms(real, fake), head.g_terms(fake, real)
    assert set(d) == {"shape", "colour", "position"}
    assert set(g) == {"shape", "colour"}  # position is unknown for fakes
    assert d["shape"].item() == pytest.approx((ce([2, 1, 0], 0) + ce([0, 3, 1], 2)) / 2)
    assert d["colour"].item() == pytest.approx((ce([1, 0], 1) + ce([0, 2], 1)) / 2)
    sq = (0.5 - 1.0) ** 2 + (-0.5 - 0.0) ** 2 + (0.0 - 0.0) ** 2 + (1.0 - 0.0) ** 2
    assert d["position"].item() == pytest.approx(sq / 4)
    assert g["shape"].item() == pytest.approx((ce([1, 0, 0], 1) + ce([0, 0, 2], 0)) / 2)
    assert g["colour"].item() == pytest.approx((ce([0, 1], 0) + ce([-1, 0], 1)) / 2)


def test_each_d_term_reaches_only_its_sub_head():
    head = hand_head()
    for name in ("shape", "colour", "position"):
        real, fake = sides(grad=True)
        head.zero_grad(set_to_none=True)
        head.d_terms(real, fake)[name].backward()
        reached = {n for n, p in head.named_parameters() if p.grad is not None}
        assert reached == {f"tasks.{name}.weight", f"tasks.{name}.bias"}
        assert real.features.grad.abs().sum() > 0 and fake.features.grad is None


def test_g_terms_reach_the_fake_side_only():
    head = hand_head()
    real, fake = sides(grad=True)
    sum(head.g_terms(fake, real).values()).backward()
    assert fake.features.grad.abs().sum() > 0 and real.features.grad is None


def test_no_g_terms_when_fakes_have_no_known_targets():
    head = hand_head()
    real, fake = sides()
    assert head.g_terms(side(FAKE, {}), real) == {}


def test_missing_real_target_is_a_clear_error():
    real, fake = sides()
    del real.targets["colour"]
    with pytest.raises(ValueError, match="colour"):
        hand_head().d_terms(real, fake)


def test_check_reports_unknown_and_image_targets():
    cls = AttributeHead
    problems = cls.check(cls.Config(targets=["shape", "weight", "edges"]), INFO)
    assert len(problems) == 2
    assert "'weight'" in problems[0] and "colour, position, shape" in problems[0]
    assert "'edges'" in problems[1]
    assert cls.check(cls.Config(), INFO) == []
    problems = cls.check(cls.Config(), DataInfo(1, 16, 3))
    assert len(problems) == 1 and "none" in problems[0]
    with pytest.raises(ValueError, match="weight"):
        make(targets=["weight"])


def test_unknown_target_is_reported_before_training(registry):
    spec = tiny_spec()
    spec["discriminator"]["heads"] = [
        {"type": "adversarial"},
        {"type": "attribute", "targets": ["hue"]},
    ]
    with pytest.raises(SpecError, match=r"discriminator.heads\[1\]: .*'hue'.*colour, position"):
        resolve(spec, registry)


def test_discovered_and_trains_on_shapes(registry):
    assert registry.get("head", "attribute") is AttributeHead
    spec = tiny_spec()
    spec["discriminator"]["heads"] = [{"type": "adversarial"}, {"type": "attribute"}]
    r = resolve(spec, registry)
    d, g = Trainer.from_spec(
        r, compose(r, registry, torch.device("cpu")), torch.device("cpu")
    ).train_step(False)
    assert {k for k in d if k.startswith("attribute/")} == {
        f"attribute/{n}" for n in ("shape", "colour", "size", "position")
    }
    assert {k for k in g if k.startswith("attribute/")} == {"attribute/shape", "attribute/colour"}
