"""SS-GAN rotation head: rotations and terms by hand, the extra trunk pass, gradients, a run."""

import pytest
import torch
from helpers import ce, tiny_spec
from torch import nn

from mtbench.api import DataInfo, HeadContext, Side
from mtbench.compose import compose
from mtbench.spec import resolve
from mtbench.train.loop import Trainer
from mtbench_plugins.heads import rotation
from mtbench_plugins.heads.rotation import RotationHead, rotations

IMAGE = [[1.0, 2.0], [3.0, 4.0]]
# flattened [[a, b], [c, d]] turned by 0, 90, 180, 270 degrees anticlockwise
TURNED = [[1, 2, 3, 4], [2, 4, 1, 3], [4, 3, 2, 1], [3, 1, 4, 2]]


class CountingTrunk(nn.Module):
    """Flattens 1x2x2 images into 4 features, optionally through a linear layer; counts images."""

    def __init__(self, linear: bool = False) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 4) if linear else nn.Identity()
        self.seen: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.shape[0])
        return self.linear(x.flatten(1))


def make(trunk: nn.Module, **cfg) -> RotationHead:
    ctx = HeadContext(DataInfo(1, 2, 0), 4, None, trunk, None, None)
    torch.manual_seed(0)
    head = RotationHead(RotationHead.Config(**cfg), ctx)
    with torch.no_grad():
        head.classifier.weight.copy_(torch.eye(4))
        head.classifier.bias.zero_()
    return head


def side(images: torch.Tensor) -> Side:
    return Side({"image": images}, None, {}, None)


def test_registered_with_config_and_doc():
    assert rotation.mtbench_heads() == [RotationHead]
    cls = RotationHead
    assert cls.kind == "head" and cls.name == "rotation" and cls.description
    assert "Chen" in cls.__doc__ and cls.check(cls.Config(), DataInfo(1, 2, 0)) == []
    assert not cls.uses_trunk_features  # it runs the trunk itself on rotated copies
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError):
            cls.Config(batch_fraction=bad)


def test_rotations_by_hand():
    images = torch.tensor([[IMAGE], [[[5.0, 6.0], [7.0, 8.0]]]])  # (2, 1, 2, 2)
    rotated, index = rotations(images)
    assert rotated.shape == (8, 1, 2, 2)
    assert index.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert rotated[0::2].flatten(1).tolist() == TURNED


def test_terms_by_hand_with_an_extra_trunk_pass():
    trunk = CountingTrunk()
    head = make(trunk)
    real = side(torch.tensor([[IMAGE]]))
    fake = side(-torch.tensor([[IMAGE]]))
    d, g = head.d_terms(real, fake), head.g_terms(fake, real)
    assert set(d) == {"rot_real"} and set(g) == {"rot_fake"}
    assert d["rot_real"].item() == pytest.approx(sum(ce(t, k) for k, t in enumerate(TURNED)) / 4)
    neg = [[-v for v in t] for t in TURNED]
    assert g["rot_fake"].item() == pytest.approx(sum(ce(t, k) for k, t in enumerate(neg)) / 4)
    assert trunk.seen == [4, 4]  # four rotated copies of one image, per step


def test_batch_fraction_rotates_only_the_leading_images():
    trunk = CountingTrunk()
    head = make(trunk, batch_fraction=0.5)
    images = torch.tensor([[IMAGE], [IMAGE], [IMAGE], [IMAGE]])
    images[2:] = float("nan")  # would poison the loss if used
    loss = head.d_terms(side(images), None)["rot_real"]
    assert loss.item() == pytest.approx(sum(ce(t, k) for k, t in enumerate(TURNED)) / 4)
    assert trunk.seen == [8]


def test_d_term_reaches_trunk_and_classifier_from_real_images():
    trunk = CountingTrunk(linear=True)
    head = make(trunk)
    real = side(torch.randn(2, 1, 2, 2, requires_grad=True))
    fake = side(torch.randn(2, 1, 2, 2, requires_grad=True))
    head.d_terms(real, fake)["rot_real"].backward()
    for p in [*head.parameters(), *trunk.parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert fake.images["image"].grad is None
    assert not any(p is q for p in head.parameters() for q in trunk.parameters())


def test_g_term_reaches_the_fake_images_only():
    head = make(CountingTrunk(linear=True))
    real = side(torch.randn(2, 1, 2, 2, requires_grad=True))
    fake = side(torch.randn(2, 1, 2, 2, requires_grad=True))
    head.g_terms(fake, real)["rot_fake"].backward()
    assert fake.images["image"].grad.abs().sum() > 0
    assert real.images["image"].grad is None


def test_discovered_and_trains_in_a_tiny_run(registry):
    assert registry.get("head", "rotation") is RotationHead
    spec = tiny_spec()
    head = {"type": "rotation", "g_weight": 0.2, "batch_fraction": 0.5}
    spec["discriminator"]["heads"] = [{"type": "adversarial"}, head]
    r = resolve(spec, registry)
    parts = compose(r, registry, torch.device("cpu"))
    assert parts.g_weighting.base["rotation/rot_fake"] == pytest.approx(0.2)
    assert parts.d_weighting.base["rotation/rot_real"] == pytest.approx(1.0)
    d, g = Trainer.from_spec(r, parts, torch.device("cpu")).train_step(False)
    assert torch.isfinite(d["rotation/rot_real"]) and torch.isfinite(g["rotation/rot_fake"])
