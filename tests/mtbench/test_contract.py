"""Contract violations a plugin author makes are caught at compose time, before training, in
one line naming the plugin and its package (exit 2), not as a traceback from deep inside."""

from __future__ import annotations

import pytest
import torch
from fake_plugins import module_with, registry_of, use_registry
from helpers import tiny_spec, write_spec
from torch import nn

from mtbench import hookimpl
from mtbench.api import (
    DataInfo,
    DatasetPlugin,
    DataSplits,
    GeneratorPlugin,
    HeadPlugin,
    TensorData,
    TrunkPlugin,
)
from mtbench.cli import main


class _Trunk(TrunkPlugin):
    """Flatten + linear, with ``width`` outputs and a ``feature_dim`` claim set by subclasses."""

    description = "test trunk"
    width = 32
    claims: int | None = 32

    def __init__(self, cfg, data: DataInfo) -> None:
        super().__init__(cfg, data)
        self.fc = nn.Linear(data.channels * data.size * data.size, self.width)
        if self.claims is not None:
            self.feature_dim = self.claims

    def forward(self, x):
        return self.fc(x.flatten(1))


class GoodTrunk(_Trunk):
    name = "good_dim"


class NoDimTrunk(_Trunk):
    name = "no_dim"
    claims = None


class WrongDimTrunk(_Trunk):
    name = "wrong_dim"
    claims = 10


class VectorHead(HeadPlugin):
    name = "vector_terms"
    description = "returns a per-sample D term"

    def __init__(self, cfg, ctx) -> None:
        super().__init__(cfg, ctx)
        self.fc = nn.Linear(ctx.feature_dim, 1)

    def d_terms(self, real, fake):
        return {"v": self.fc(real.features).squeeze(1)}  # (B,), not a scalar

    def g_terms(self, fake, real):
        return {"v": self.fc(fake.features).mean()}


class _Data(DatasetPlugin):
    description = "random images"
    shape = (3, 16, 16)
    dtype = torch.uint8

    def info(self) -> DataInfo:
        return DataInfo(channels=3, size=16, num_classes=4)

    def load(self) -> DataSplits:
        images = torch.zeros((40, *self.shape), dtype=self.dtype)
        return DataSplits(TensorData(images, torch.arange(40) % 4), None)


class SmallData(_Data):
    name = "small_images"
    shape = (3, 8, 8)


class FloatData(_Data):
    name = "float_images"
    dtype = torch.float32


class NoZGenerator(GeneratorPlugin):
    name = "no_z"
    description = "forgets z_dim"

    def forward(self, z, labels):
        return {"image": torch.zeros(len(z), 3, 16, 16)}


CASES = {
    "trunk never sets feature_dim": (
        {"discriminator.trunk": {"type": "no_dim"}},
        "plugin 'no_dim' (trunk, package pkg-fakes): never sets feature_dim; set "
        "self.feature_dim (a positive int: the width of forward's output) in __init__",
    ),
    "wrong feature_dim": (
        {"discriminator.trunk": {"type": "wrong_dim"}},
        "plugin 'wrong_dim' (trunk, package pkg-fakes): forward returned features of shape "
        "(2, 32) on 2 images but feature_dim is 10; set feature_dim to forward's output width, "
        "or flatten to (B, feature_dim)",
    ),
    "head term not a scalar": (
        {"discriminator.heads": [{"type": "adversarial"}, {"type": "vector_terms"}]},
        "plugin 'vector_terms' (head, package pkg-fakes): d_terms term 'v' is a torch.float32 "
        "tensor of shape (2,), not a float scalar; reduce it to one number per batch (e.g. "
        ".mean())",
    ),
    "info and load disagree": (
        {"dataset": {"type": "small_images"}},
        "plugin 'small_images' (dataset, package pkg-fakes): load() gave train images of shape "
        "(40, 3, 8, 8) but info() declares (N, 3, 16, 16) (channels, size, size); make info() "
        "and load() agree",
    ),
    "float images": (
        {"dataset": {"type": "float_images"}},
        "plugin 'float_images' (dataset, package pkg-fakes): load() gave train images of dtype "
        "torch.float32, not torch.uint8; return images as uint8 in [0, 255] (the core scales "
        "them to [-1, 1])",
    ),
    "generator without z_dim": (
        {"generator": {"type": "no_z"}},
        "plugin 'no_z' (generator, package pkg-fakes): z_dim is None; set self.z_dim (a "
        "positive int) in __init__",
    ),
}


@pytest.fixture
def fakes(monkeypatch):
    mod = module_with(
        "fakes",
        mtbench_trunks=hookimpl(lambda: [GoodTrunk, NoDimTrunk, WrongDimTrunk]),
        mtbench_heads=hookimpl(lambda: [VectorHead]),
        mtbench_datasets=hookimpl(lambda: [SmallData, FloatData]),
        mtbench_generators=hookimpl(lambda: [NoZGenerator]),
    )
    use_registry(monkeypatch, registry_of(mod))


@pytest.mark.parametrize("override, message", CASES.values(), ids=CASES)
def test_contract_violation_is_one_line_naming_the_plugin_exit_2(
    tmp_path, capsys, fakes, override, message
):
    spec = tiny_spec(out=str(tmp_path / "run"))
    for path, value in override.items():
        where = spec
        *parents, leaf = path.split(".")
        for p in parents:
            where = where[p]
        where[leaf] = value
    assert main(["run", str(write_spec(tmp_path / "s.json", spec))]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [message]
    assert not (tmp_path / "run").exists()  # checked before the run folder is made


def test_a_plugin_keeping_the_contract_trains(tmp_path, capsys, fakes):
    spec = tiny_spec(out=str(tmp_path / "run"))
    spec["train"]["steps"] = 1
    spec["discriminator"]["trunk"] = {"type": "good_dim"}
    assert main(["run", str(write_spec(tmp_path / "s.json", spec))]) == 0, capsys.readouterr().err


def test_check_derived_accepts_none_and_the_target_shape_only():
    from mtbench.contract import check_derived
    from mtbench.errors import ContractError

    check_derived(None, 2, (1, 8, 8), "edges", "dataset 'x'")
    check_derived(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), 2, (1, 8, 8), "edges", "dataset 'x'")
    for bad in (torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 4, 4, dtype=torch.uint8), [1]):
        with pytest.raises(ContractError, match=r"^dataset 'x': derive\(images, 'edges'\)"):
            check_derived(bad, 2, (1, 8, 8), "edges", "dataset 'x'")
