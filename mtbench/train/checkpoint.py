"""Checkpoint files: a checksum of every value is stored with the state and verified on load.

A bit flip in ``last.pt`` would otherwise be loaded without complaint. The checksum covers the
decoded state (tensor bytes, numbers, strings, structure), so it is checked after a
``weights_only`` load and needs no second file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import Tensor

from mtbench.errors import first_line
from mtbench.evaluate.hashing import feed_tensor
from mtbench.io import load_torch, save_torch

CHECKSUM = "checksum"  # the key the digest is stored under


class CorruptCheckpoint(Exception):
    """A checkpoint that cannot be read, or whose contents do not match its checksum."""


def _feed(h: hashlib._Hash, obj: object) -> None:
    """Feed ``obj``'s structure and values into ``h`` (tensors by dtype, shape and bytes)."""
    if isinstance(obj, Tensor):
        feed_tensor(h, obj)
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)};".encode())
        for k in sorted(obj, key=repr):
            _feed(h, k)
            _feed(h, obj[k])
    elif isinstance(obj, (list, tuple)):
        h.update(f"L{len(obj)};".encode())
        for v in obj:
            _feed(h, v)
    else:
        h.update(f"{type(obj).__name__}:{obj!r};".encode())


def state_digest(state: dict) -> str:
    """sha256 of a checkpoint state, its checksum entry left out."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in state.items() if k != CHECKSUM})
    return h.hexdigest()


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write ``state`` with its checksum, atomically."""
    save_torch(path, {**state, CHECKSUM: state_digest(state)})


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict:
    """A checkpoint as data only (``weights_only``), its checksum verified.

    Raises ``CorruptCheckpoint`` naming the problem. A checkpoint written before checksums
    existed (no checksum entry) loads unverified.
    """
    try:
        state = load_torch(path, device)
    except Exception as exc:  # truncated, not a checkpoint, or holding code (weights_only)
        raise CorruptCheckpoint(f"not a readable checkpoint ({first_line(exc)})") from None
    if not isinstance(state, dict):
        raise CorruptCheckpoint(f"not a readable checkpoint (holds a {type(state).__name__})")
    stored = state.get(CHECKSUM)
    if stored is not None and stored != state_digest(state):
        raise CorruptCheckpoint("its contents do not match its checksum (the file is corrupt)")
    return state
