"""Metric correctness on MNIST through the domain evaluator, checked against torch-fidelity."""

from __future__ import annotations

import math

import pytest
import torch
import torch_fidelity

from mtbench.evaluate import compute_metrics
from mtbench.evaluate.extractor import ImageDataset
from mtbench.evaluate.realstats import cached_files, real_cache_name

N = 1000  # images per side: enough for stable 128-d FID ordering, fast on one thread


def noisy(images: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = images.float() + sigma * 255 * torch.randn(images.shape, generator=g)
    return x.round().clamp(0, 255).to(torch.uint8)


@pytest.fixture(scope="module")
def halves(mnist) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint halves of the real eval split."""
    data, _ = mnist
    return data.eval.images[:N], data.eval.images[N : 2 * N]


def fid(real, fake, extractor, **kw) -> float:
    return compute_metrics(real, fake, extractor, ["fid"], **kw)["fid"][0]


def test_fid_small_between_real_halves_and_grows_with_noise(halves, extractor):
    a, b = halves
    base = fid(a, b, extractor)
    noisy_fids = [fid(a, noisy(b, s), extractor) for s in (0.2, 0.4, 0.8)]
    assert base < noisy_fids[0] < noisy_fids[1] < noisy_fids[2]
    assert noisy_fids[2] > 15 * base  # heavy noise is far; the halves' gap is sampling error


def test_equals_direct_torch_fidelity_call(halves, extractor, cache_dir):
    a, b = halves
    fake = noisy(b, 0.1)
    root, name = cache_dir / "fidelity-direct", real_cache_name("halfA", extractor)
    ours = [
        compute_metrics(
            a,
            fake,
            extractor,
            ["fid", "kid", "prc"],
            kid_subset_size=200,
            seed=7,
            cache_root=root,
            real_cache_name=name,
        )
        for _ in range(2)  # first fills the real-side cache, second reads it
    ]
    assert cached_files(root, name)
    direct = torch_fidelity.calculate_metrics(
        input1=ImageDataset(fake),
        input2=ImageDataset(a),
        fid=True,
        kid=True,
        prc=True,
        feature_extractor=extractor.name,
        feature_extractor_weights_path=extractor.weights_path,
        kid_subset_size=200,
        rng_seed=7,
        save_cpu_ram=True,
        cuda=False,
        cache=False,
        verbose=False,
    )
    for got in ours:
        assert got["fid"][0] == pytest.approx(direct["frechet_inception_distance"], abs=1e-4)
        assert got["kid"][0] == pytest.approx(direct["kernel_inception_distance_mean"], abs=1e-4)
        assert got["kid"][1] == pytest.approx(direct["kernel_inception_distance_std"], abs=1e-4)
        assert got["precision"][0] == pytest.approx(direct["precision"], abs=1e-6)
        assert got["recall"][0] == pytest.approx(direct["recall"], abs=1e-6)
        assert math.isnan(got["fid"][1])


def test_same_inputs_same_values(halves, extractor):
    a, b = halves
    metrics = ["fid", "kid", "isc", "prc"]
    first = compute_metrics(a, b, extractor, metrics, kid_subset_size=200, seed=3)
    second = compute_metrics(a, b, extractor, metrics, kid_subset_size=200, seed=3)
    assert first == second
    assert set(first) == {"fid", "kid", "isc", "precision", "recall", "f_score"}


def test_changed_subset_gets_its_own_statistics(mnist, extractor, cache_dir):
    """Same extractor and cache root, two real subsets: names differ, no stale value is read."""
    from mtbench.evaluate.hashing import tensors_digest

    data, _ = mnist
    fake = data.eval.images[N : 2 * N]
    root = cache_dir / "fidelity-subsets"
    subsets = [data.train.images[:N], data.train.images[N : 2 * N]]
    names = [real_cache_name(tensors_digest(s), extractor) for s in subsets]
    assert names[0] != names[1]
    cached = [
        fid(s, fake, extractor, cache_root=root, real_cache_name=n) for s, n in zip(subsets, names)
    ]
    assert cached[0] != cached[1]
    assert cached[1] == pytest.approx(fid(subsets[1], fake, extractor), abs=1e-9)  # uncached
    assert cached_files(root, names[0]) and cached_files(root, names[1])
