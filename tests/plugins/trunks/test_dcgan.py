"""dcgan trunk: feature shapes, no batch statistics, spectral norm really applied."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from mtbench.api import DataInfo
from mtbench_plugins.trunks import dcgan as mod
from mtbench_plugins.trunks.dcgan import DCGANTrunk

torch.set_num_threads(1)

B = 4


def make(size=16, channels=1, **cfg) -> DCGANTrunk:
    torch.manual_seed(0)
    cfg = DCGANTrunk.Config(**{"width": 4, "feature_dim": 8, **cfg})
    return DCGANTrunk(cfg, DataInfo(channels=channels, size=size, num_classes=0))


def weighted(trunk: nn.Module) -> list[nn.Module]:
    return [m for m in trunk.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def test_registered_through_hook():
    assert mod.mtbench_trunks() == [DCGANTrunk]
    assert DCGANTrunk.name == "dcgan" and DCGANTrunk.description


def test_default_config():
    cfg = DCGANTrunk.Config()
    assert (cfg.width, cfg.spectral_norm, cfg.feature_dim) == (64, False, 256)


@pytest.mark.parametrize("size", [16, 28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_feature_shape(size, channels):
    t = make(size=size, channels=channels, feature_dim=6)
    assert t.feature_dim == 6
    assert t(torch.randn(B, channels, size, size)).shape == (B, 6)


def test_no_batch_statistics_so_samples_are_independent():
    t = make()
    assert DCGANTrunk.has_batch_stats is False and t.has_batch_stats is False
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in t.modules())
    x = torch.randn(B, 1, 16, 16)
    torch.testing.assert_close(t(x)[:2], t(x[:2]))


def test_spectral_norm_off_by_default():
    assert not any(parametrize.is_parametrized(m, "weight") for m in weighted(make()))


def test_spectral_norm_on_every_conv_and_linear():
    t = make(spectral_norm=True)
    layers = weighted(t)
    assert len(layers) == 3  # two convs and the linear at size 16
    for m in layers:
        assert parametrize.is_parametrized(m, "weight")
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.05)
    assert t(torch.randn(B, 1, 16, 16)).shape == (B, 8)


def test_every_parameter_gets_a_gradient():
    t = make(spectral_norm=True)
    t(torch.randn(B, 1, 16, 16)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in t.parameters())


def test_unsupported_size_is_a_check_problem():
    data = DataInfo(channels=1, size=48, num_classes=0)
    problems = DCGANTrunk.check(DCGANTrunk.Config(), data)
    assert len(problems) == 1 and "48" in problems[0]
    with pytest.raises(ValueError, match="48"):
        make(size=48)


@pytest.mark.parametrize("field,value", [("width", 0), ("feature_dim", 0), ("sn", True)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError):
        DCGANTrunk.Config(**{field: value})
