"""Real-set statistics in torch-fidelity's cache, under names that make a stale hit impossible.

torch-fidelity keys its cache by the name we give an input plus the extractor's registry name,
never by the data; so the name carries the real data's digest and the extractor's weights
digest (and the class, for per-class statistics).
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics_cached
from torch_fidelity.utils import (
    create_feature_extractor,
    extract_featuresdict_from_input_id_cached,
    resolve_feature_layer_for_metric,
)

from mtbench.evaluate.catalogue import fidelity_metrics, real_side
from mtbench.evaluate.extractor import Extractor, ImageDataset


def real_cache_name(real_digest: str, extractor: Extractor, cls: int | None = None) -> str:
    """torch-fidelity cache name of a real set (or one class of it) seen by ``extractor``."""
    name = f"mtbench-real-{real_digest}-{extractor.label}-{extractor.hash}"
    return name if cls is None else f"{name}-class{cls}"


def cached_files(cache_root: Path, cache_name: str) -> list[Path]:
    """The files torch-fidelity has cached under ``cache_name``."""
    return sorted(Path(cache_root).glob(f"{cache_name}-*.pt"))


def fidelity_kwargs(
    extractor: Extractor,
    metrics: list[str] | tuple[str, ...],
    *,
    cuda: bool,
    seed: int,
    batch_size: int,
    kid_subset_size: int,
    cache_root: Path | None,
    real_cache_name: str | None,
) -> dict:
    """torch-fidelity arguments shared by metric calls and cache warming, so their keys agree."""
    cache = cache_root is not None and real_cache_name is not None
    return {
        **extractor.kwargs(),
        **{m: m in metrics for m in fidelity_metrics()},
        "cuda": cuda,
        "batch_size": batch_size,
        "kid_subset_size": kid_subset_size,
        "rng_seed": seed,
        "save_cpu_ram": True,
        "verbose": False,
        "cache": cache,
        "cache_root": str(cache_root) if cache else None,
        "input2_cache_name": real_cache_name if cache else None,
    }


def warm_real_cache(real: Tensor, extractor: Extractor, metrics: list[str], **opts: object) -> None:
    """Extract and cache the real features and FID statistics a later metric call will look up.

    ``opts`` are ``fidelity_kwargs``'s keywords (with ``cache_root`` and ``real_cache_name`` set).
    Requests exactly the feature layers ``calculate_metrics`` requests for ``metrics``, since
    torch-fidelity hits its feature cache only when every requested layer is cached.
    """
    metrics = [m for m in fidelity_metrics() if m in metrics]
    if not real_side(metrics):
        return
    kw = fidelity_kwargs(extractor, metrics, **opts)
    kw["input2"] = ImageDataset(real, extractor.rgb)
    layers = sorted({resolve_feature_layer_for_metric(m, **kw) for m in metrics})
    fe = create_feature_extractor(extractor.name, layers, **kw)
    feats = extract_featuresdict_from_input_id_cached(2, fe, **kw)
    if "fid" in metrics:
        layer = resolve_feature_layer_for_metric("fid", **kw)
        fid_featuresdict_to_statistics_cached(feats, kw["input2_cache_name"], fe, layer, **kw)
