"""What file-based data sets share: preprocessing and cache settings, and seeded splits of
images decoded once into the cache (``mtbench.decode_cache``).

The images are decoded in split order (the train split, then the held-out one), so each
split is a slice of one memory map: a split larger than RAM is never copied.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from pydantic import Field

from mtbench.api import DataSplits, PluginConfig, TensorData
from mtbench.decode_cache import Decoded, Item, Recipe, decode_set

MODES = {1: "L", 3: "RGB"}


class DecodedConfig(PluginConfig):
    """Settings of every data set read from image files."""

    size: int = Field(32, ge=4, le=512, description="side of the square images")
    channels: Literal[1, 3] = Field(3, description="1 (greyscale) or 3 (RGB)")
    eval_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    split_seed: int = 0
    cache: bool = Field(True, description="decode once into the decoded-image cache")
    cache_dir: str | None = Field(
        None, min_length=1, description="default $MTBENCH_DATA_CACHE, else ~/.cache/mtbench/decoded"
    )
    decode_workers: int | None = Field(None, ge=1, le=256, description="default: cores, max 8")


def split_indices(n: int, eval_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted train and held-out indices of ``n`` images; at least one image trains."""
    n_eval = min(round(n * eval_fraction), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_eval:].sort().values.numpy(), perm[:n_eval].sort().values.numpy()


def decoded_splits(
    items: list[Item],
    labels: np.ndarray | None,
    cfg: DecodedConfig,
    provenance: dict,
    targets: dict[str, np.ndarray] | None = None,
) -> DataSplits:
    """Train and held-out splits of ``items`` (labels and targets per item), decoded once."""
    train_idx, held_idx = split_indices(len(items), cfg.eval_fraction, cfg.split_seed)
    order = np.concatenate([train_idx, held_idx])
    ordered = None if labels is None else np.asarray(labels, np.int64)[order]
    recipe = Recipe(cfg.size, cfg.channels)
    d = decode_set(
        [items[i] for i in order], ordered, recipe, cfg.cache, cfg.cache_dir, cfg.decode_workers
    )
    n_train = len(train_idx)
    ordered_targets = {k: torch.from_numpy(v[order]) for k, v in (targets or {}).items()}
    train = _part(d, 0, n_train, ordered_targets)
    held = _part(d, n_train, len(order), ordered_targets)
    provenance = {
        **provenance,
        "resize": f"centre crop, bicubic to {cfg.size}x{cfg.size}, {MODES[cfg.channels]}",
        "split_seed": cfg.split_seed,
        "n_train": n_train,
        "n_eval": len(held_idx),
        "decoded": d.where,
        "decode_key": d.key,
    }
    return DataSplits(train, held if len(held_idx) else None, provenance)


def _part(d: Decoded, a: int, b: int, targets: dict[str, torch.Tensor]) -> TensorData:
    images = torch.from_numpy(d.images[a:b])
    labels = None if d.labels is None else torch.from_numpy(d.labels[a:b].copy())
    return TensorData(images, labels, {k: v[a:b].clone() for k, v in targets.items()})
