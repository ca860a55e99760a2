"""Atomic writes: a temp file in the same folder, fsync, rename. Nothing a user made is lost."""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()  # what open() would give; mkstemp alone gives 0600
TMP_PREFIX, TMP_SUFFIX = ".", ".tmp"  # a temp file is .<name>.<random>.tmp beside <name>


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers see the old or the new file, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f"{TMP_PREFIX}{path.name}.", suffix=TMP_SUFFIX, dir=path.parent
    )
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def temp_files(folder: str | Path) -> list[Path]:
    """Temp files of ``atomic_write_bytes`` in ``folder`` (left there only by a kill)."""
    found = Path(folder).glob(f"{TMP_PREFIX}*{TMP_SUFFIX}")
    return sorted(p for p in found if p.is_file() and not p.is_symlink())


def remove_leftovers(folder: str | Path) -> list[Path]:
    """Delete the temp files a killed ``atomic_write_bytes`` left in ``folder``; returns them."""
    gone = temp_files(folder)
    for p in gone:
        p.unlink(missing_ok=True)
    return gone


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode())


def write_parquet(path: str | Path, df: pd.DataFrame) -> None:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def save_torch(path: str | Path, obj: Any) -> None:
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_torch(path: str | Path, device: torch.device | str = "cpu") -> Any:
    """Load a checkpoint as data only (``weights_only=True``): a checkpoint never runs code."""
    return torch.load(path, map_location=device, weights_only=True)
