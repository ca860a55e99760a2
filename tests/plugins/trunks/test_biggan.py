"""biggan trunk: layouts per size, self-attention placement, orthogonal init, spectral norm."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from mtbench.api import DataInfo
from mtbench_plugins.blocks import SelfAttention
from mtbench_plugins.trunks import biggan as mod
from mtbench_plugins.trunks.biggan import BigGANTrunk


def make(size=32, **cfg) -> BigGANTrunk:
    torch.manual_seed(0)
    return BigGANTrunk(BigGANTrunk.Config(**{"width": 8, **cfg}), DataInfo(3, size, 0))


def test_registered():
    assert mod.mtbench_trunks() == [BigGANTrunk]
    assert "Brock" in BigGANTrunk.__doc__ and BigGANTrunk.Config().spectral_norm


@pytest.mark.parametrize("size, dim", [(32, 32), (64, 128), (128, 128)])
def test_feature_shape(size, dim):
    t = make(size)
    assert t.feature_dim == dim
    assert t(torch.randn(2, 3, size, size)).shape == (2, dim)


@pytest.mark.parametrize("size, side, index", [(32, 16, 1), (64, 32, 1), (128, 64, 1)])
def test_attention_sits_after_the_block_of_its_side(size, side, index):
    t = make(size)
    kinds = [type(b) for b in t.blocks]
    assert kinds.count(SelfAttention) == 1 and kinds.index(SelfAttention) == index
    assert not any(isinstance(b, SelfAttention) for b in make(size, attention=0).blocks)


def test_attention_at_a_side_no_block_has_is_a_spec_problem():
    (msg,) = BigGANTrunk.check(BigGANTrunk.Config(attention=12), DataInfo(3, 32, 0))
    assert "attention side 12 is not a block side" in msg


def test_self_attention_starts_as_identity_and_learns_a_gain():
    a = SelfAttention(16)
    x = torch.randn(2, 16, 8, 8)
    assert torch.equal(a(x), x)
    a(x).sum().backward()
    assert a.gain.grad is not None


def test_orthogonal_init_and_spectral_norm():
    t = make(spectral_norm=False)
    conv = t.blocks[0].conv2
    w = conv.weight.flatten(1)  # (out, in*k*k), out <= in*k*k: orthonormal rows
    assert torch.allclose(w @ w.T, torch.eye(w.shape[0]), atol=1e-5)
    convs = [m for m in make().modules() if isinstance(m, nn.Conv2d)]
    assert all(parametrize.is_parametrized(m, "weight") for m in convs)
