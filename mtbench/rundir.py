"""A run folder's default place, the spec hash and the provenance recorded in spec.json.

File names live in ``mtbench.layout`` (``RunDir`` is re-exported here for old imports).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import json
import platform
from pathlib import Path

import torch

import mtbench
from mtbench.layout import RunDir
from mtbench.spec import Resolved

__all__ = ["RunDir", "default_out", "provenance", "spec_hash"]


def default_out(r: Resolved) -> Path:
    return Path(r.spec.out or f"runs/{r.spec.name}-s{r.spec.seed}")


LATE_TRAIN_FIELDS = ("sync_batchnorm", "channels_last", "compile")  # added after 0.x runs


def spec_hash(spec_json: dict) -> str:
    """Hash of what determines the result (not steps, folder or progress display)."""
    core = json.loads(json.dumps(spec_json))
    core.pop("out", None)
    core.pop("meta", None)
    core.get("train", {}).pop("steps", None)
    core.get("log", {}).pop("progress", None)
    core.get("log", {}).pop("tensorboard", None)
    for late in LATE_TRAIN_FIELDS:  # runs made before they existed keep their hash (and
        if core.get("train", {}).get(late) is False:  # --resume) while they are off
            core["train"].pop(late)
    blob = json.dumps(core, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def provenance(r: Resolved, device: torch.device, data: dict) -> dict:
    """Versions of mtbench, torch and every plugin used, the device and the data split."""
    plugins = {}
    for b in [r.dataset, r.generator, r.trunk, r.loss, r.weighting, *r.heads]:
        module = b.cls.__module__.split(".")[0]
        plugins[f"{b.cls.kind}/{b.cls.name}"] = _dist_version(module)
    return {
        "mtbench": mtbench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "plugins": plugins,
        "data": data,
    }


@functools.cache
def _distributions() -> dict[str, list[str]]:
    """Top-level module -> distributions; scanning every installed package takes ~0.5 s."""
    return md.packages_distributions()


def _dist_version(module: str) -> str:
    dists = _distributions().get(module, [])
    for d in dists:
        try:
            return f"{d} {md.version(d)}"
        except md.PackageNotFoundError:
            continue
    return "unknown"
