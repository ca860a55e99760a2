"""Reconstruction head: decoder shapes, L1/L2 terms by hand, gradient reach, target checks."""

import pytest
import torch
from helpers import make_head, tiny_spec
from torch import nn

from mtbench.api import DataInfo, Side, TargetInfo
from mtbench.compose import compose
from mtbench.spec import SpecError, resolve
from mtbench.train.loop import Trainer
from mtbench_plugins.heads import reconstruction
from mtbench_plugins.heads.reconstruction import Decoder, ReconstructionHead

D = 8
INFO = DataInfo(
    1,
    2,
    3,
    targets={
        "edges": TargetInfo("image", shape=(1, 2, 2)),
        "image_2x": TargetInfo("image", shape=(1, 4, 4)),
        "shape": TargetInfo("class", num_classes=3),
    },
)


class FirstFour(nn.Module):
    """A stand-in decoder with a known output: features 0..3 as a 1x2x2 image, times ``scale``."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.scale * f[:, :4].reshape(-1, 1, 2, 2)


def make(info: DataInfo = INFO, **cfg) -> ReconstructionHead:
    return make_head(ReconstructionHead, info, D, **cfg)


def hand_head(**cfg) -> ReconstructionHead:
    head = make(**cfg)
    head.decoder = FirstFour()
    return head


def image(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(1, 1, 2, 2)


def feats(*values: float, grad: bool = False) -> torch.Tensor:
    f = torch.zeros(1, D)
    f[0, : len(values)] = torch.tensor(values)
    return f.requires_grad_(grad)


def sides(grad: bool = False) -> tuple[Side, Side]:
    real = Side(
        {"image": image(1, 0, 0, -1), "edges": image(0, 1, 1, 0)},
        None,
        {},
        feats(0.5, 0.5, 0, 0, grad=grad),
    )
    fake_images = {
        "image": image(0, 0, 0, 0).requires_grad_(grad),
        "edges": image(1, 1, 0, 0).requires_grad_(grad),
    }
    return real, Side(fake_images, None, {}, feats(0, 1, 0.5, 0, grad=grad))


def test_registered_with_config_and_doc():
    assert reconstruction.mtbench_heads() == [ReconstructionHead]
    cls = ReconstructionHead
    assert cls.kind == "head" and cls.name == "reconstruction" and cls.description
    assert "pix2pix" in cls.__doc__
    with pytest.raises(ValueError):
        cls.Config(weight=2.0)
    with pytest.raises(ValueError):
        cls.Config(norm="l3")


@pytest.mark.parametrize(
    "shape", [(1, 2, 2), (1, 16, 16), (1, 28, 28), (3, 32, 32), (1, 56, 56), (1, 30, 30)]
)
def test_decoder_output_shape_and_range(shape):
    torch.manual_seed(0)
    out = Decoder(D, shape, width=4)(torch.randn(3, D) * 10)
    assert out.shape == (3, *shape)
    assert out.abs().max() <= 1.0


def test_decoder_is_sized_from_the_target():
    assert make(target="image_2x").decoder(torch.randn(2, D)).shape == (2, 1, 4, 4)
    assert make().decoder(torch.randn(2, D)).shape == (2, 1, 2, 2)


@pytest.mark.parametrize(
    ("norm", "rec_real", "rec_fake"), [("l1", 0.5, 0.375), ("l2", 0.375, 0.3125)]
)
def test_terms_by_hand(norm, rec_real, rec_fake):
    # real: decoder reads (.5, .5, 0, 0), the image is (1, 0, 0, -1)
    real, fake = sides()
    d = hand_head(norm=norm).d_terms(real, fake)
    assert set(d) == {"rec_real"} and d["rec_real"].item() == pytest.approx(rec_real)
    # fake: its "edges" output (1, 1, 0, 0) against the decoder's reading (0, 1, .5, 0)
    g = hand_head(norm=norm, target="edges", output="edges").g_terms(fake, real)
    assert set(g) == {"rec_fake"} and g["rec_fake"].item() == pytest.approx(rec_fake)


def test_paired_target_is_read_from_the_real_images():
    real, fake = sides()  # decoder (.5, .5, 0, 0) vs edges (0, 1, 1, 0): l1 = 2 / 4
    assert hand_head(target="edges").d_terms(real, fake)["rec_real"].item() == pytest.approx(0.5)


def test_no_g_term_without_an_output_the_generator_emits():
    real, fake = sides()
    assert hand_head().g_terms(fake, real) == {}
    assert hand_head(output="inverted").g_terms(fake, real) == {}


def test_mismatched_output_shape_is_a_clear_error():
    real, fake = sides()
    fake.images["image_2x"] = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="image_2x"):
        make(target="edges", output="image_2x").g_terms(fake, real)


def test_missing_real_target_is_a_clear_error():
    real, fake = sides()
    del real.images["edges"]
    with pytest.raises(ValueError, match="edges"):
        make(target="edges").d_terms(real, fake)


def test_d_term_reaches_the_decoder_and_real_features_only():
    head = make()
    real, fake = sides(grad=True)
    head.d_terms(real, fake)["rec_real"].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert real.features.grad.abs().sum() > 0 and fake.features.grad is None


def test_g_term_reaches_the_generator_output_only():
    head = make(target="edges", output="edges")
    real, fake = sides(grad=True)
    head.g_terms(fake, real)["rec_fake"].backward()
    assert fake.images["edges"].grad.abs().sum() > 0
    assert fake.features.grad is None and fake.images["image"].grad is None
    assert all(p.grad is None for p in head.parameters())


def test_check_accepts_image_targets_and_names_the_declared_ones():
    cls = ReconstructionHead
    for target in ("image", "edges", "image_2x"):
        assert cls.check(cls.Config(target=target), INFO) == []
    for target in ("depth", "shape"):
        (problem,) = cls.check(cls.Config(target=target), INFO)
        assert f"{target!r}" in problem and "image, edges, image_2x" in problem
    with pytest.raises(ValueError, match="depth"):
        make(target="depth")


def test_undeclared_target_is_reported_before_training(registry):
    spec = tiny_spec()
    spec["discriminator"]["heads"] = [
        {"type": "adversarial"},
        {"type": "reconstruction", "target": "edges"},
    ]
    with pytest.raises(SpecError, match=r"discriminator.heads\[1\]: .*'edges'.*declares: image\)"):
        resolve(spec, registry)


def test_discovered_and_trains_as_an_autoencoder(registry):
    assert registry.get("head", "reconstruction") is ReconstructionHead
    spec = tiny_spec()
    head = {"type": "reconstruction", "output": "image", "weight": 10.0, "width": 8}
    spec["discriminator"]["heads"] = [{"type": "adversarial"}, head]
    r = resolve(spec, registry)
    d, g = Trainer.from_spec(
        r, compose(r, registry, torch.device("cpu")), torch.device("cpu")
    ).train_step(False)
    assert torch.isfinite(d["reconstruction/rec_real"]) and torch.isfinite(
        g["reconstruction/rec_fake"]
    )
