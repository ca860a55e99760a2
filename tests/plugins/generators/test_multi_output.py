"""multi_output generator: branch shapes, shared trunk and own heads, codes and labels, checks."""

import pytest
import torch
from helpers import B, class_labels, gradless

from mtbench.api import DataInfo, GeneratorContext, TargetInfo
from mtbench_plugins.generators import multi_output
from mtbench_plugins.generators.multi_output import MultiOutputGenerator

TASKS = {
    "image_2x": TargetInfo("image", shape=(1, 32, 32)),
    "edges": TargetInfo("image", shape=(1, 16, 16)),
    "inverted": TargetInfo("image", shape=(1, 16, 16)),
    "colour": TargetInfo("class", num_classes=3),
}


def tasks_info(size=16, num_classes=3, targets=None) -> DataInfo:
    return DataInfo(1, size, num_classes, targets=TASKS if targets is None else targets)


def make_multi(outputs=("image",), data=None, code_dim=0, **cfg) -> MultiOutputGenerator:
    torch.manual_seed(0)
    cfg = MultiOutputGenerator.Config(
        **{"z_dim": 8, "width": 4, "embed_dim": 8, "outputs": list(outputs), **cfg}
    )
    return MultiOutputGenerator(cfg, GeneratorContext(data or tasks_info(), code_dim))


def test_multi_output_registered_through_hook():
    assert multi_output.mtbench_generators() == [MultiOutputGenerator]
    assert MultiOutputGenerator.name == "multi_output" and MultiOutputGenerator.description
    assert MultiOutputGenerator.Config().outputs == ["image"]


def test_multi_output_branch_shapes():
    names = ["image", "image_2x", "edges", "inverted"]
    g = make_multi(names)
    out = g(torch.randn(B, 8), class_labels())
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
    out = g(torch.randn(B, 8), class_labels())
    out["edges"].square().mean().backward()
    assert g.project.weight.grad.abs().sum() > 0 and g.embed.weight.grad.abs().sum() > 0
    assert gradless(g.branches["edges"]) == []
    assert all(p.grad is None for n in ("image", "image_2x") for p in g.branches[n].parameters())
    g.zero_grad()
    sum(v.square().mean() for v in g(torch.randn(B, 8), class_labels()).values()).backward()
    assert gradless(g) == []


def test_multi_output_code_dim_and_labels():
    g = make_multi(code_dim=3)
    assert g(torch.randn(B, 11), class_labels())["image"].shape == (B, 1, 16, 16)
    with pytest.raises(ValueError, match="11"):
        g(torch.randn(B, 8), class_labels())
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
