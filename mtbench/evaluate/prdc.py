"""Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models", ICML; reference: github.com/clovaai/generative-evaluation-prdc, ``prdc.py``).

Each real sample gets a ball whose radius is the distance to its k-th nearest real neighbour
(itself excluded). *Density* counts, per generated sample, the real balls containing it,
divided by k, averaged over generated samples (about 1 when both sets come from one
distribution; above 1 when fakes crowd into dense real regions). *Coverage* is the share of
real samples whose ball holds at least one generated sample (it falls when the generator
drops modes, which precision does not see). Strict ``<`` as in the reference code.

Deliberate differences from the reference: distances are computed in blocks with
``torch.cdist`` (never the full N x M matrix in memory, no scikit-learn worker pool), and the
real radii are computed once per real set and kept with its statistics
(``RealStats.radii``), so every evaluation after the first computes only the real-to-fake
distances. torch-fidelity computes precision/recall with its own k (3) inside its call and
exposes no distances, so those are not shared.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtbench.evaluate.spec import DC_NEIGHBORHOOD as NEAREST_K  # the paper's k = 5

BLOCK = 2048  # rows of a distance block: 2048 x 10,000 float32 is 80 MB


class TooFewSamples(ValueError):
    """Density/coverage asked of fewer than k + 1 samples on one side."""


def _check(n: int, side: str, k: int) -> None:
    if n <= k:
        raise TooFewSamples(
            f"density/coverage needs more than k={k} {side} samples, got {n}; "
            "raise eval.n_samples (or use a larger real split)"
        )


def real_radii(real: Tensor, k: int = NEAREST_K) -> Tensor:
    """Distance of each real feature to its k-th nearest real neighbour, itself excluded."""
    _check(len(real), "real", k)
    real = real.float()
    out = []
    for block in real.split(BLOCK):
        d = torch.cdist(block, real)
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])  # index 0: itself
    return torch.cat(out)


def density_coverage(
    real: Tensor, fake: Tensor, radii: Tensor, k: int = NEAREST_K
) -> dict[str, float]:
    """``density`` and ``coverage`` of ``fake`` features against ``real`` ones and their radii."""
    _check(len(fake), "generated", k)
    real, fake = real.float(), fake.float()
    inside = torch.zeros(len(fake), dtype=torch.float64)
    covered = 0
    for block, r in zip(real.split(BLOCK), radii.split(BLOCK)):
        hit = torch.cdist(block, fake) < r[:, None]
        inside += hit.sum(0, dtype=torch.float64)
        covered += int(hit.any(1).sum())
    return {"density": float(inside.mean()) / k, "coverage": covered / len(real)}


def cached_radii(stats: object, layer: str, k: int = NEAREST_K) -> Tensor:
    """The real radii of ``stats`` (a ``RealStats``) at ``layer``, computed once and kept."""
    key = f"{layer}/k{k}"
    if key not in stats.radii:
        stats.radii[key] = real_radii(stats.features[layer], k)
    return stats.radii[key]
