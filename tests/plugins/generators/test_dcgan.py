"""dcgan generator: output shapes for every supported size, conditioning, codes, checks."""

import pytest
import torch
from helpers import B, class_labels

from mtbench.api import DataInfo, GeneratorContext
from mtbench_plugins.generators import dcgan as mod
from mtbench_plugins.generators.dcgan import DCGANGenerator

torch.set_num_threads(1)


def make(size=16, channels=1, num_classes=3, code_dim=0, **cfg) -> DCGANGenerator:
    torch.manual_seed(0)
    cfg = DCGANGenerator.Config(**{"z_dim": 8, "width": 4, "embed_dim": 8, **cfg})
    data = DataInfo(channels=channels, size=size, num_classes=num_classes)
    return DCGANGenerator(cfg, GeneratorContext(data=data, code_dim=code_dim))


def test_registered_through_hook():
    assert mod.mtbench_generators() == [DCGANGenerator]
    assert DCGANGenerator.name == "dcgan" and DCGANGenerator.description


def test_default_config():
    cfg = DCGANGenerator.Config()
    assert (cfg.z_dim, cfg.width, cfg.embed_dim) == (64, 64, 64)


@pytest.mark.parametrize("size", [16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 3])
def test_output_shape_and_range(size, channels, num_classes):
    g = make(size=size, channels=channels, num_classes=num_classes)
    y = class_labels() if num_classes else None
    out = g(torch.randn(B, 8), y)
    assert set(out) == {"image"}
    assert out["image"].shape == (B, channels, size, size)
    assert out["image"].abs().max() <= 1.0
    assert g.outputs() == {"image": (channels, size, size)}
    assert g.z_dim == 8


def test_code_dim_widens_the_input():
    g = make(code_dim=5)
    assert g.z_dim == 8
    assert g(torch.randn(B, 13), class_labels())["image"].shape == (B, 1, 16, 16)
    with pytest.raises(ValueError, match="13"):
        g(torch.randn(B, 8), class_labels())


def test_labels_change_the_output():
    g = make().eval()
    z = torch.randn(B, 8)
    a = g(z, torch.zeros(B, dtype=torch.long))["image"]
    b = g(z, torch.ones(B, dtype=torch.long))["image"]
    assert not torch.allclose(a, b)


def test_conditional_uses_conditional_batch_norm_and_unconditional_does_not():
    assert make(num_classes=3).embed is not None
    g = make(num_classes=0)
    assert g.embed is None
    assert all(norm.bn.affine for norm in g.norms)


def test_labels_required_iff_conditional():
    with pytest.raises(ValueError, match="labels"):
        make(num_classes=3)(torch.randn(B, 8), None)
    with pytest.raises(ValueError, match="labels"):
        make(num_classes=0)(torch.randn(B, 8), class_labels())


def test_every_parameter_gets_a_gradient():
    g = make()
    g(torch.randn(B, 8), class_labels())["image"].square().mean().backward()
    missing = [n for n, p in g.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_unsupported_size_is_a_check_problem():
    data = DataInfo(channels=1, size=20, num_classes=0)
    problems = DCGANGenerator.check(DCGANGenerator.Config(), data)
    assert len(problems) == 1 and "20" in problems[0]
    assert DCGANGenerator.check(DCGANGenerator.Config(), DataInfo(3, 32, 10)) == []
    with pytest.raises(ValueError, match="20"):
        make(size=20)


@pytest.mark.parametrize("field,value", [("z_dim", 0), ("width", 1), ("embed_dim", 0), ("zdim", 8)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError):
        DCGANGenerator.Config(**{field: value})
