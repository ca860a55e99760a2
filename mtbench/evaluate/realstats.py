"""Real-set features and FID statistics in mtbench's own cache, read as data only.

torch-fidelity's own cache unpickles its files in full, so a planted file would run
code; mtbench never lets it read or write that cache. This cache is written by mtbench and read
with ``weights_only=True``; a file that is not one of ours (foreign, corrupt, for other data)
is ignored and replaced. The name carries the real data's digest and the extractor's weights
digest (and the class, for per-class statistics), so a stale hit is impossible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch_fidelity.metric_fid import fid_features_to_statistics

from mtbench.evaluate.extractor import Extractor
from mtbench.io import load_torch, save_torch

FORMAT = 1  # bump when what a cache file holds changes


@dataclass
class RealStats:
    """A real set's features by layer and FID statistics (mu, sigma) of its FID layer."""

    n: int
    features: dict[str, Tensor]
    fid: dict[str, dict[str, np.ndarray]]  # layer -> {"mu", "sigma"}, as torch-fidelity has them
    # k-NN radii of the features (density/coverage), by "<layer>/k<k>"; in memory, not cached
    radii: dict[str, Tensor] = field(default_factory=dict, compare=False, repr=False)

    def covers(self, layers: list[str], fid_layer: str | None) -> bool:
        return set(layers) <= set(self.features) and (fid_layer is None or fid_layer in self.fid)


def real_cache_name(real_digest: str, extractor: Extractor, cls: int | None = None) -> str:
    """Cache name of a real set (or one class of it) seen by ``extractor``."""
    name = f"mtbench-real-{real_digest}-{extractor.label}-{extractor.hash}"
    return name if cls is None else f"{name}-class{cls}"


def cache_file(cache_root: Path, name: str) -> Path:
    return Path(cache_root) / f"{name}.pt"


def cached_files(cache_root: Path, name: str) -> list[Path]:
    """The cache files mtbench holds under ``name`` (none or one)."""
    path = cache_file(cache_root, name)
    return [path] if path.is_file() else []


def load(path: Path, name: str) -> RealStats | None:
    """A cache file of ours named ``name``, read as data only; None for anything else."""
    try:
        blob = load_torch(path)
        if blob["format"] != FORMAT or blob["name"] != name:
            return None
        fid = {k: {s: v[s].numpy() for s in ("mu", "sigma")} for k, v in blob["fid"].items()}
        return RealStats(int(blob["n"]), dict(blob["features"]), fid)
    except Exception:  # missing, foreign (code: refused by weights_only), corrupt, older format
        return None


def save(path: Path, name: str, stats: RealStats) -> None:
    fid = {k: {s: torch.from_numpy(v[s]) for s in ("mu", "sigma")} for k, v in stats.fid.items()}
    blob = {"format": FORMAT, "name": name, "n": stats.n, "features": stats.features, "fid": fid}
    save_torch(path, blob)


def compute(
    images: Tensor, extractor: Extractor, layers: list[str], fid_layer: str | None, **opts
) -> RealStats:
    """Features of ``images`` at ``layers`` (and ``fid_layer``) and FID statistics of the latter.

    ``opts`` are ``Extractor.features``'s ``device`` and ``batch_size``.
    """
    wanted = sorted(set(layers) | ({fid_layer} if fid_layer else set()))
    feats = extractor.features(images, wanted, **opts)
    fid = {fid_layer: fid_features_to_statistics(feats[fid_layer])} if fid_layer else {}
    return RealStats(len(images), feats, fid)


def real_stats(
    images: Tensor,
    extractor: Extractor,
    layers: list[str],
    fid_layer: str | None,
    *,
    device: torch.device,
    batch_size: int,
    cache_root: Path | None = None,
    name: str | None = None,
) -> RealStats:
    """The real side of a metric call: from the cache when it holds ours, else computed (and
    cached when ``cache_root`` and ``name`` are given)."""
    path = cache_file(cache_root, name) if cache_root is not None and name else None
    hit = load(path, name) if path is not None else None
    if hit is not None and hit.n == len(images) and hit.covers(layers, fid_layer):
        return hit
    stats = compute(images, extractor, layers, fid_layer, device=device, batch_size=batch_size)
    if path is not None:
        save(path, name, stats)
    return stats
