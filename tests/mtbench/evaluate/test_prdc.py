"""Density and coverage (Naeem et al. 2020) on synthetic features with known answers, against
the paper's formula written out densely, and on an untrained generator's MNIST images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from bench_eval import TinyGenerator
from pydantic import ValidationError
from torch_fidelity.metric_prc import prc_features_to_metric

from mtbench.evaluate import EvalSpec, compute_metrics, prdc
from mtbench.evaluate.prdc import TooFewSamples, density_coverage, real_radii

K = prdc.NEAREST_K


def gauss(n: int, dim: int = 16, seed: int = 0, mean: torch.Tensor | None = None) -> torch.Tensor:
    x = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))
    return x if mean is None else x + mean


def dc(real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
    return density_coverage(real, fake, real_radii(real))


def dense_reference(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """The paper's definitions on full distance matrices (as in the authors' prdc.py)."""
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    radii = np.sort(d_rr, axis=1)[:, k]
    d_rf = np.linalg.norm(real[:, None] - fake[None], axis=-1)
    inside = d_rf < radii[:, None]
    return inside.sum(0).mean() / k, (d_rf.min(1) < radii).mean()


def test_identical_set_is_fully_covered_at_density_about_one():
    x = gauss(1000)
    got = dc(x, x)
    assert got["coverage"] == 1.0
    assert got["density"] == pytest.approx(1.0, abs=0.15)


def test_two_draws_of_one_distribution_score_about_one():
    got = dc(gauss(1500, seed=1), gauss(1500, seed=2))
    assert got["density"] == pytest.approx(1.0, abs=0.15)
    assert got["coverage"] > 0.9  # the paper's Lemma 2: 1 - 2^-k ~ 0.97 for equal sizes


def test_collapsed_generator_keeps_precision_but_loses_coverage():
    centres = 6 * torch.randn(10, 16, generator=torch.Generator().manual_seed(3))
    real = torch.cat([gauss(150, seed=10 + i, mean=c) for i, c in enumerate(centres)])
    fake = 0.5 * gauss(1500, seed=99) + centres[0]  # collapsed into the core of one mode
    kw = {"prc_neighborhood": 3, "prc_batch_size": 10000, "save_cpu_ram": True}
    prec = prc_features_to_metric(fake, real, **kw, verbose=False)["precision"]
    got = dc(real, fake)
    assert prec > 0.9
    assert got["coverage"] < 0.15  # one mode of ten
    full = dc(real, torch.cat([gauss(150, seed=50 + i, mean=c) for i, c in enumerate(centres)]))
    assert full["coverage"] > 0.9


def test_blocked_computation_equals_the_dense_formula(monkeypatch):
    monkeypatch.setattr(prdc, "BLOCK", 7)  # several blocks, a ragged last one
    real, fake = gauss(60, dim=4, seed=5), gauss(45, dim=4, seed=6) * 1.3
    want = dense_reference(real.double().numpy(), fake.double().numpy(), K)
    got = dc(real, fake)
    assert got["density"] == pytest.approx(want[0], abs=1e-9)
    assert got["coverage"] == pytest.approx(want[1], abs=1e-9)


def test_fewer_samples_than_k_is_refused_clearly():
    with pytest.raises(TooFewSamples, match="more than k=5 real samples, got 5"):
        real_radii(gauss(K))
    with pytest.raises(TooFewSamples, match="more than k=5 generated samples, got 3"):
        density_coverage(gauss(20), gauss(3), real_radii(gauss(20)))
    with pytest.raises(ValidationError, match="dc .density/coverage, k=5. needs more than 5"):
        EvalSpec(metrics=["dc"], n_samples=5)


def test_untrained_generator_is_exposed_by_coverage(mnist, extractor):
    """bench_eval's untrained generator: precision looks fine, coverage does not."""
    data, _ = mnist
    torch.manual_seed(0)
    with torch.no_grad():
        fake = TinyGenerator()(torch.arange(1000) % 10)
    real = data.eval.images[:1000]
    got = compute_metrics(real, fake, extractor, ["prc", "dc"])
    same = compute_metrics(real, data.eval.images[1000:2000], extractor, ["dc"])
    assert same["coverage"][0] > 0.8  # real vs real: 1000 per side, 128-d features
    assert got["coverage"][0] < 0.2
    assert got["coverage"][0] < got["precision"][0] / 2


def test_evaluator_rows_and_real_radii_computed_once(
    mnist, cache_dir, monkeypatch, noise_generator
):
    """dc rows come from the Evaluator next to prc; the real k-NN radii are computed once."""
    from mtbench.evaluate import Evaluator

    data, info = mnist
    calls = []
    monkeypatch.setattr(prdc, "real_radii", lambda x, k=K: calls.append(len(x)) or real_radii(x, k))
    spec = EvalSpec(metrics=["prc", "dc"], n_samples=200, cache_dir=str(cache_dir))
    ev = Evaluator(spec, data, info, torch.device("cpu"), seed=0)
    rows = ev.evaluate(noise_generator, 1) + ev.evaluate(noise_generator, 2)
    got = {(r["step"], r["metric"]): r for r in rows}
    assert 0 <= got[(1, "coverage")]["value"] < 0.1  # noise covers no digit
    assert got[(1, "density")]["feature_extractor"] == "domain"
    assert calls == [len(data.eval)]
