"""Content digests: what makes a cached network or statistic valid for exactly one input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import Tensor

from mtbench.api import TensorData

DIGEST_CHARS = 16  # 64 bits of sha256: collisions are not a practical concern for cache keys


def feed_tensor(h: hashlib._Hash, t: Tensor | None) -> None:
    """Feed dtype, shape and bytes of ``t`` (or a marker for ``None``) into ``h``."""
    if t is None:
        h.update(b"none;")
        return
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)};".encode())
    if t.numel():
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())


def tensors_digest(*tensors: Tensor | None) -> str:
    """Digest of dtypes, shapes and bytes of ``tensors``."""
    h = hashlib.sha256()
    for t in tensors:
        feed_tensor(h, t)
    return h.hexdigest()[:DIGEST_CHARS]


def named_digest(named: dict[str, Tensor | None]) -> str:
    """Digest of named tensors (a state dict, a split's targets): names and contents."""
    h = hashlib.sha256()
    for name in sorted(named):
        h.update(name.encode() + b"=")
        feed_tensor(h, named[name])
    return h.hexdigest()[:DIGEST_CHARS]


def data_digest(data: TensorData) -> str:
    """Digest of a split: images, labels and every target, so any changed sample changes it."""
    return named_digest(
        {"images": data.images, "labels": data.labels}
        | {f"targets/{k}": v for k, v in data.targets.items()}
    )


def json_digest(obj: object) -> str:
    """Digest of a JSON-serialisable object with sorted keys (recipes, configs)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:DIGEST_CHARS]


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str | Path) -> str:
    """Digest of a file's bytes, memoised on (path, size, mtime) since weight files are large."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        h = hashlib.sha256()
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        _FILE_DIGESTS[key] = h.hexdigest()[:DIGEST_CHARS]
    return _FILE_DIGESTS[key]
