"""resnet generator: output shapes, conditioning, residual blocks, shared embedding, checks."""

import pytest
import torch
from helpers import B, class_labels, gradless
from torch import nn

from mtbench.api import DataInfo, GeneratorContext
from mtbench_plugins.generators import resnet
from mtbench_plugins.generators.resnet import ResNetGenerator
from mtbench_plugins.layers import ConditionalBatchNorm2d

torch.set_num_threads(1)


def make_resnet(size=16, channels=1, num_classes=3, code_dim=0, **cfg) -> ResNetGenerator:
    torch.manual_seed(0)
    cfg = ResNetGenerator.Config(**{"z_dim": 8, "width": 4, "embed_dim": 8, **cfg})
    data = DataInfo(channels=channels, size=size, num_classes=num_classes)
    return ResNetGenerator(cfg, GeneratorContext(data=data, code_dim=code_dim))


# ----------------------------------------------------------------------------- resnet


def test_resnet_registered_through_hook():
    assert resnet.mtbench_generators() == [ResNetGenerator]
    assert ResNetGenerator.name == "resnet" and ResNetGenerator.description
    cfg = ResNetGenerator.Config()
    assert (cfg.z_dim, cfg.width, cfg.embed_dim, cfg.spectral_norm) == (128, 64, 128, False)


@pytest.mark.parametrize("size", [16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("num_classes", [0, 3])
def test_resnet_output_shape_and_range(size, channels, num_classes):
    g = make_resnet(size=size, channels=channels, num_classes=num_classes)
    out = g(torch.randn(B, 8), class_labels() if num_classes else None)
    assert set(out) == {"image"}
    assert out["image"].shape == (B, channels, size, size)
    assert out["image"].abs().max() <= 1.0
    assert g.outputs() == {"image": (channels, size, size)} and g.z_dim == 8
    assert len(g.blocks) == {16: 2, 28: 2, 32: 3, 64: 4}[size]


def test_resnet_code_dim_widens_the_input():
    g = make_resnet(code_dim=5)
    assert g.z_dim == 8
    assert g(torch.randn(B, 13), class_labels())["image"].shape == (B, 1, 16, 16)
    with pytest.raises(ValueError, match="13"):
        g(torch.randn(B, 8), class_labels())


def test_resnet_blocks_are_residual_and_upsample():
    g = make_resnet(size=32)
    block = g.blocks[0]
    x, e = torch.randn(2, block.conv1.in_channels, 4, 4), g.embed(class_labels(2))
    with torch.no_grad():
        block.conv2.weight.zero_()
        block.conv2.bias.zero_()
    up = torch.nn.functional.interpolate(x, scale_factor=2, mode="nearest")
    assert torch.allclose(block(x, e), block.shortcut(up))  # residual branch off: shortcut only


def test_resnet_class_embedding_is_shared_by_every_block():
    g = make_resnet(size=32)
    embeddings = [m for m in g.modules() if isinstance(m, nn.Embedding)]
    assert embeddings == [g.embed]
    calls = []
    g.embed.register_forward_hook(lambda *_: calls.append(1))
    norms = [m for m in g.blocks.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(norms) == 2 * len(g.blocks) == 6
    assert all(n.conditional and n.to_gain.in_features == 8 for n in norms)
    g(torch.randn(B, 8), class_labels())["image"].square().mean().backward()
    assert calls == [1]  # looked up once per forward, for all blocks
    # every block's gains and biases are driven by (and train) the one embedding
    assert all(n.to_gain.weight.grad.abs().sum() > 0 for n in norms)
    assert g.embed.weight.grad.abs().sum() > 0


def test_resnet_labels_change_the_output_and_are_required_iff_conditional():
    g = make_resnet().eval()
    z = torch.randn(B, 8)
    a = g(z, torch.zeros(B, dtype=torch.long))["image"]
    assert not torch.allclose(a, g(z, torch.ones(B, dtype=torch.long))["image"])
    with pytest.raises(ValueError, match="labels"):
        g(z, None)
    u = make_resnet(num_classes=0)
    assert u.embed is None
    assert all(not n.conditional for n in u.modules() if isinstance(n, ConditionalBatchNorm2d))
    with pytest.raises(ValueError, match="labels"):
        u(z, class_labels())


def test_resnet_every_parameter_gets_a_gradient():
    g = make_resnet()
    g(torch.randn(B, 8), class_labels())["image"].square().mean().backward()
    assert gradless(g) == []


def test_resnet_spectral_norm_option():
    g = make_resnet(spectral_norm=True)
    assert hasattr(g.blocks[0].conv1, "parametrizations")
    assert not hasattr(g.embed, "parametrizations")
    assert g(torch.randn(B, 8), class_labels())["image"].shape == (B, 1, 16, 16)


def test_resnet_unsupported_size_is_a_check_problem():
    problems = ResNetGenerator.check(ResNetGenerator.Config(), DataInfo(1, 20, 0))
    assert len(problems) == 1 and "20" in problems[0]
    assert ResNetGenerator.check(ResNetGenerator.Config(), DataInfo(3, 32, 10)) == []
    with pytest.raises(ValueError, match="20"):
        make_resnet(size=20)


@pytest.mark.parametrize("field,value", [("z_dim", 0), ("width", 2), ("embed_dim", 0), ("zdim", 8)])
def test_resnet_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError):
        ResNetGenerator.Config(**{field: value})
