"""resnet trunk (SNGAN/ProjGAN): layouts per size, sum-pooled features, spectral norm."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from mtbench.api import DataInfo
from mtbench_plugins.blocks import DBlock, OptimizedDBlock
from mtbench_plugins.trunks import resnet as mod
from mtbench_plugins.trunks.resnet import ResNetTrunk


def make(size=32, channels=3, **cfg) -> ResNetTrunk:
    torch.manual_seed(0)
    return ResNetTrunk(ResNetTrunk.Config(**{"width": 4, **cfg}), DataInfo(channels, size, 0))


def test_registered_with_the_papers_defaults():
    assert mod.mtbench_trunks() == [ResNetTrunk]
    cfg = ResNetTrunk.Config()
    assert (cfg.width, cfg.spectral_norm) == (128, True)  # SNGAN's CIFAR-10 ResNet D
    assert "Miyato" in ResNetTrunk.__doc__


@pytest.mark.parametrize("size, blocks, dim", [(32, 4, 4), (64, 5, 64), (128, 6, 64)])
def test_layout_and_feature_shape(size, blocks, dim):
    t = make(size)
    assert isinstance(t.blocks[0], OptimizedDBlock)
    assert all(isinstance(b, DBlock) for b in t.blocks[1:]) and len(t.blocks) == blocks
    assert t.feature_dim == dim
    out = t(torch.randn(2, 3, size, size))
    assert out.shape == (2, dim) and (out >= 0).all()  # ReLU then sum pooling


def test_spectral_norm_on_every_conv_and_off_by_option():
    convs = [m for m in make().modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(parametrize.is_parametrized(m, "weight") for m in convs)
    assert not any(parametrize.is_parametrized(m) for m in make(spectral_norm=False).modules())
    assert make().uses_spectral_norm() and not make(spectral_norm=False).uses_spectral_norm()


def test_unsupported_size_is_a_spec_problem():
    assert ResNetTrunk.check(ResNetTrunk.Config(), DataInfo(1, 28, 0)) == [
        "resnet trunk supports image sizes 32, 64, 128; the data set's is 28"
    ]


def test_sum_pooling_scales_with_area():
    """Global sum (not mean) pooling, as SNGAN: a constant image's features grow with area."""
    t = make(32, spectral_norm=False)
    x = torch.ones(1, 3, 32, 32)
    assert torch.allclose(
        t(x), t.blocks[-1](t.blocks[2](t.blocks[1](t.blocks[0](x)))).relu().sum((2, 3))
    )
