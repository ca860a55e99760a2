"""biggan generator: hierarchical z, shared embedding into cBN, attention, SN, outputs."""

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from mtbench.api import DataInfo, GeneratorContext
from mtbench_plugins.generators import biggan as mod
from mtbench_plugins.generators.biggan import BigGANGenerator


def make(size=32, classes=3, code_dim=0, **cfg) -> BigGANGenerator:
    torch.manual_seed(0)
    cfg = BigGANGenerator.Config(**{"z_dim": 20, "width": 8, "shared_dim": 6, **cfg})
    return BigGANGenerator(cfg, GeneratorContext(DataInfo(3, size, classes), code_dim))


def test_registered():
    assert mod.mtbench_generators() == [BigGANGenerator]
    assert "Brock" in BigGANGenerator.__doc__


@pytest.mark.parametrize("size, z_dim", [(32, 20), (64, 25), (128, 30)])
def test_output_shape_and_range(size, z_dim):
    g = make(size, z_dim=z_dim)
    out = g(torch.randn(2, z_dim), torch.tensor([0, 2]))["image"]
    assert out.shape == (2, 3, size, size) and out.abs().max() <= 1


def test_each_block_gets_its_own_z_chunk_and_the_shared_embedding():
    g = make()
    assert g.chunk == 5 and len(g.blocks) == 3
    assert g.blocks[0].norm1.to_gain.in_features == 5 + 6  # chunk + shared embedding
    g.eval()
    z, y = torch.randn(2, 20), torch.tensor([0, 1])
    base = g(z, y)["image"]
    z2 = z.clone()
    z2[:, 15:] += 1.0  # only the last block's chunk
    assert not torch.allclose(g(z2, y)["image"], base)
    assert not torch.allclose(g(z, torch.tensor([2, 2]))["image"], base)


def test_latent_codes_join_the_first_chunk():
    g = make(code_dim=3)
    assert g.project.in_features == 5 + 3
    assert g(torch.randn(2, 23), torch.tensor([0, 1]))["image"].shape == (2, 3, 32, 32)


def test_unconditional():
    g = make(classes=0)
    assert g.shared is None
    assert g(torch.randn(2, 20), None)["image"].shape == (2, 3, 32, 32)


def test_z_dim_must_split_evenly():
    (msg,) = BigGANGenerator.check(BigGANGenerator.Config(z_dim=21), DataInfo(3, 32, 3))
    assert "z_dim 21 must split into 4 equal chunks" in msg


def test_spectral_norm_everywhere_but_the_shared_embedding():
    g = make()
    layers = [m for m in g.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not parametrize.is_parametrized(g.shared)
    assert g.attention is not None and g.attend_after == 1  # side 16 at 32 px
