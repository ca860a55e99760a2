"""Read IDX files (the MNIST family's format), gzip or plain, with numpy only.

Corrupt files become ``UserError`` naming the file, so a bad download reads as one line.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from mtbench.errors import UserError

UBYTE = 0x08  # the only element type MNIST-family files use


def read_idx(path: Path) -> np.ndarray:
    """The uint8 array in an IDX file; gzip is detected from the content, not the name."""
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE or not 1 <= raw[3] <= 4:
        head = raw[:4].hex() or "empty"
        raise UserError(f"{path}: not an unsigned-byte IDX file (magic 0x{head}); re-download it")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UserError(f"{path}: truncated IDX header; re-download it")
    dims = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise UserError(
            f"{path}: IDX file has {len(raw)} bytes, its header {dims} needs {expected}; "
            "re-download it"
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(dims).copy()  # writable


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed when it starts with the gzip magic."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"{path}: cannot read ({exc}); re-download it") from exc
