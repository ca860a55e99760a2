"""resnet and multi_output generators: output shapes, conditioning, shared embedding, checks."""

import pytest
import torch
from torch import nn

from mtbench.api import DataInfo, GeneratorContext, TargetInfo
from mtbench_plugins.generators import multi_output, resnet
from mtbench_plugins.generators.multi_output import MultiOutputGenerator
from mtbench_plugins.generators.resnet import ResNetGenerator
from mtbench_plugins.layers import ConditionalBatchNorm2d

torch.set_num_threads(1)

B = 4
TASKS = {
    "image_2x": TargetInfo("image", shape=(1, 32, 32)),
    "edges": TargetInfo("image", shape=(1, 16, 16)),
    "inverted": TargetInfo("image", shape=(1, 16, 16)),
    "colour": TargetInfo("class", num_classes=3),
}


def labels(n=B, k=3):
    return torch.arange(n) % k


def make_resnet(size=16, channels=1, num_classes=3, code_dim=0, **cfg) -> ResNetGenerator:
    torch.manual_seed(0)
    cfg = ResNetGenerator.Config(**{"z_dim": 8, "width": 4, "embed_dim": 8, **cfg})
    data = DataInfo(channels=channels, size=size, num_classes=num_classes)
    return ResNetGenerator(cfg, GeneratorContext(data=data, code_dim=code_dim))


def tasks_info(size=16, num_classes=3, targets=None) -> DataInfo:
    return DataInfo(1, size, num_classes, targets=TASKS if targets is None else targets)


def make_multi(outputs=("image",), data=None, code_dim=0, **cfg) -> MultiOutputGenerator:
    torch.manual_seed(0)
    cfg = MultiOutputGenerator.Config(
        **{"z_dim": 8, "width": 4, "embed_dim": 8, "outputs": list(outputs), **cfg}
    )
    return MultiOutputGenerator(cfg, GeneratorContext(data or tasks_info(), code_dim))


def gradless(module: nn.Module) -> list[str]:
    return [n for n, p in module.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]


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
    out = g(torch.randn(B, 8), labels() if num_classes else None)
    assert set(out) == {"image"}
    assert out["image"].shape == (B, channels, size, size)
    assert out["image"].abs().max() <= 1.0
    assert g.outputs() == {"image": (channels, size, size)} and g.z_dim == 8
    assert len(g.blocks) == {16: 2, 28: 2, 32: 3, 64: 4}[size]


def test_resnet_code_dim_widens_the_input():
    g = make_resnet(code_dim=5)
    assert g.z_dim == 8
    assert g(torch.randn(B, 13), labels())["image"].shape == (B, 1, 16, 16)
    with pytest.raises(ValueError, match="13"):
        g(torch.randn(B, 8), labels())


def test_resnet_blocks_are_residual_and_upsample():
    g = make_resnet(size=32)
    block = g.blocks[0]
    x, e = torch.randn(2, block.conv1.in_channels, 4, 4), g.embed(labels(2))
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
    g(torch.randn(B, 8), labels())["image"].square().mean().backward()
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
        u(z, labels())


def test_resnet_every_parameter_gets_a_gradient():
    g = make_resnet()
    g(torch.randn(B, 8), labels())["image"].square().mean().backward()
    assert gradless(g) == []


def test_resnet_spectral_norm_option():
    g = make_resnet(spectral_norm=True)
    assert hasattr(g.blocks[0].conv1, "parametrizations")
    assert not hasattr(g.embed, "parametrizations")
    assert g(torch.randn(B, 8), labels())["image"].shape == (B, 1, 16, 16)


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


# ----------------------------------------------------------------------------- multi_output


def test_multi_output_registered_through_hook():
    assert multi_output.mtbench_generators() == [MultiOutputGenerator]
    assert MultiOutputGenerator.name == "multi_output" and MultiOutputGenerator.description
    assert MultiOutputGenerator.Config().outputs == ["image"]


def test_multi_output_branch_shapes():
    names = ["image", "image_2x", "edges", "inverted"]
    g = make_multi(names)
    out = g(torch.randn(B, 8), labels())
    expected = {"image": (1, 16, 16), "image_2x": (1, 32, 32), "edges": (1, 16, 16)}
    expected["inverted"] = (1, 16, 16)
    assert g.outputs() == expected and list(out) == names
    assert {k: tuple(v.shape[1:]) for k, v in out.items()} == expected
    assert all(v.abs().max() <= 1 for v in out.values())
    assert len(g.branches) == 4 and g.z_dim == 8


@pytest.mark.parametrize("size", [16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_multi_output_every_size_with_4x_rgb_target(size, channels):
    targets = {"big": TargetInfo("image", shape=(channels, 4 * size, 4 * size))}
    data = DataInfo(channels, size, 0, targets=targets)
    out = make_multi(["image", "big"], data)(torch.randn(2, 8), None)
    assert out["image"].shape == (2, channels, size, size)
    assert out["big"].shape == (2, channels, 4 * size, 4 * size)


def test_multi_output_branches_share_the_trunk_and_each_has_its_own_head():
    g = make_multi(["image", "image_2x", "edges"])
    out = g(torch.randn(B, 8), labels())
    out["edges"].square().mean().backward()
    assert g.project.weight.grad.abs().sum() > 0 and g.embed.weight.grad.abs().sum() > 0
    assert gradless(g.branches["edges"]) == []
    assert all(p.grad is None for n in ("image", "image_2x") for p in g.branches[n].parameters())
    g.zero_grad()
    sum(v.square().mean() for v in g(torch.randn(B, 8), labels()).values()).backward()
    assert gradless(g) == []


def test_multi_output_code_dim_and_labels():
    g = make_multi(code_dim=3)
    assert g(torch.randn(B, 11), labels())["image"].shape == (B, 1, 16, 16)
    with pytest.raises(ValueError, match="11"):
        g(torch.randn(B, 8), labels())
    with pytest.raises(ValueError, match="labels"):
        g(torch.randn(B, 11), None)
    u = make_multi(data=tasks_info(num_classes=0))
    assert u.embed is None and u(torch.randn(B, 8), None)["image"].shape == (B, 1, 16, 16)


def test_multi_output_check_names_undeclared_outputs():
    cfg = MultiOutputGenerator.Config(outputs=["image", "depth", "colour"])
    problems = MultiOutputGenerator.check(cfg, tasks_info())
    assert len(problems) == 2
    assert "'depth'" in problems[0] and "image_2x, edges, inverted" in problems[0]
    assert "'colour'" in problems[1]  # a class target is not an image output
    none = MultiOutputGenerator.check(cfg, tasks_info(targets={}))
    assert "its image targets: none" in none[0]
    with pytest.raises(ValueError, match="depth"):
        make_multi(["image", "depth"])


def test_multi_output_check_image_required_size_and_scale():
    cfg = MultiOutputGenerator.Config
    no_image = MultiOutputGenerator.check(cfg(outputs=["edges"]), tasks_info())
    assert no_image == ['outputs must include "image"']
    bad = {
        "odd": TargetInfo("image", shape=(1, 24, 24)),
        "flat": TargetInfo("image", shape=(1, 16, 32)),
    }
    problems = MultiOutputGenerator.check(
        cfg(outputs=["image", "odd", "flat"]), tasks_info(targets=bad)
    )
    assert len(problems) == 2 and "(1, 24, 24)" in problems[0] and "(1, 16, 32)" in problems[1]
    sized = MultiOutputGenerator.check(cfg(), DataInfo(1, 20, 0))
    assert len(sized) == 1 and "20" in sized[0]
    assert MultiOutputGenerator.check(cfg(outputs=["image", "image_2x"]), tasks_info()) == []


@pytest.mark.parametrize(
    "field,value", [("outputs", []), ("outputs", ["image", "image"]), ("width", 2), ("z", 1)]
)
def test_multi_output_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError):
        MultiOutputGenerator.Config(**{field: value})
