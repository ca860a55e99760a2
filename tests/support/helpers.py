"""Test helpers importable from every test folder (``from helpers import ...``)."""

from __future__ import annotations

import gzip
import json
import math
import struct
import types
from pathlib import Path

import numpy as np
import torch

from mtbench import hookimpl
from mtbench.api import DataInfo, HeadContext, HeadPlugin, Plugin, Side
from mtbench.hookspecs import HOOK_OF_KIND
from mtbench.registry import Origin, Registry
from mtbench_plugins.losses.adversarial import mtbench_losses

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


B = 4  # batch size of the small network tests


def class_labels(n: int = B, k: int = 3) -> torch.Tensor:
    """Labels 0, 1, ..., k-1, 0, 1, ... for a batch of n."""
    return torch.arange(n) % k


def gradless(module: torch.nn.Module) -> list[str]:
    """Names of the module's parameters that got no gradient (or an all-zero one)."""
    return [n for n, p in module.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """An unsigned-byte IDX file, written independently of the readers under test."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    raw = header + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def sp(x: float) -> float:
    """Softplus by hand."""
    return math.log1p(math.exp(x))


def build_loss(name: str):
    """A built-in adversarial loss family with its default config, by name."""
    cls = {c.name: c for c in mtbench_losses()}[name]
    return cls(cls.Config())


def make_head(cls: type[HeadPlugin], data: DataInfo, feature_dim: int = 8, **cfg) -> HeadPlugin:
    """A head on a stand-in context (identity trunk, no loss family), seeded 0: by-hand tests."""
    ctx = HeadContext(data, feature_dim, None, torch.nn.Identity(), None, None)
    torch.manual_seed(0)
    return cls(cls.Config(**cfg), ctx)


def ce(logits: list[float], label: int) -> float:
    """Cross-entropy of one row of logits against its label, computed by hand."""
    return -logits[label] + math.log(sum(math.exp(v) for v in logits))


def feature_side(
    rows: list[list[float]], labels: list[int] | None, grad: bool = False, dim: int = 8
) -> Side:
    """A side holding only trunk features: each row's leading values, zero-padded to ``dim``."""
    f = torch.zeros(len(rows), dim)
    for i, row in enumerate(rows):
        f[i, : len(row)] = torch.tensor(row, dtype=torch.float32)
    y = None if labels is None else torch.tensor(labels)
    return Side({}, y, {}, f.requires_grad_(grad))


def registry_with(*classes: type[Plugin]) -> Registry:
    """The installed plugins plus test-only plugin classes, registered as one module."""
    module = types.ModuleType("test_plugins")
    for kind, hook in HOOK_OF_KIND.items():
        found = [cls for cls in classes if cls.kind == kind]
        if found:
            setattr(module, hook, hookimpl(_returning(found)))
    registry = Registry.discover()
    registry.add_module(module, Origin("tests = test_plugins", "tests", "0"))
    return registry


def _returning(classes: list) -> types.FunctionType:
    def hook() -> list:
        return classes

    return hook


def bench_in_child(argv: list[str]):
    """``mtbench ARGV`` in a forked process (no second import of torch) that leads its own
    process group, which the run processes it starts join: killpg stops them all."""
    import multiprocessing
    import os

    from mtbench.cli import main

    def target() -> None:
        os.setsid()
        os._exit(main(argv))

    proc = multiprocessing.get_context("fork").Process(target=target)
    proc.start()
    return proc
