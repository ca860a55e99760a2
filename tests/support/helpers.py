"""Test helpers importable from every test folder (``from helpers import ...``)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MNIST_ROOT = REPO.parent / "shared" / "data" / "mnist"


def tiny_spec(**over) -> dict:
    """A spec that trains in a fraction of a second per step: 16x16 shapes, narrow nets."""
    spec = {
        "name": "tiny",
        "seed": 0,
        "dataset": {"type": "shapes", "size": 16, "n": 400},
        "generator": {"type": "dcgan", "z_dim": 16, "width": 8, "embed_dim": 8},
        "discriminator": {
            "trunk": {"type": "dcgan", "width": 8, "feature_dim": 32},
            "heads": [{"type": "adversarial"}, {"type": "aux_classifier"}],
        },
        "train": {"steps": 6, "batch_size": 8, "device": "cpu", "threads": 1},
        "log": {"every": 2, "checkpoint_every": 3, "sample_every": 3, "progress": False},
    }
    for key, value in over.items():
        spec[key] = value
    return spec


def write_spec(path: Path, spec: dict) -> Path:
    path.write_text(json.dumps(spec))
    return path
