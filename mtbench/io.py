"""Atomic writes: a temp file in the same folder, fsync, rename. Nothing a user made is lost."""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import torch

from mtbench.errors import UserError

CHECKPOINT_MAX_BYTES = 256 * 2**30  # a sanity bound, not a quota: far above any GAN here


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
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename is None:
            exc.filename = str(path)  # name the file meant, not a nameless write
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


@contextlib.contextmanager
def open_regular(path: str | Path, limit: int, what: str = "file") -> Iterator[BinaryIO]:
    """Open a regular file of at most ``limit`` bytes for reading, else a one-line UserError.

    A FIFO, device or socket is never read (it would hang or never end).
    """
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)  # non-blocking: a FIFO must not hang us
    except FileNotFoundError:
        raise UserError(f"{p}: no such {what} file; check the path") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{p}: cannot read this {what} file ({_reason(exc)})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(
                f"{p}: not a regular file (a {_file_kind(st.st_mode)}); "
                f"give the path of a {what} file"
            )
        if st.st_size > limit:
            raise UserError(_too_large(p, limit, what))
        yield f


def read_regular(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see ``open_regular``)."""
    with open_regular(path, limit, what) as f:
        data = f.read(limit + 1)
    if len(data) > limit:  # grew since it was opened
        raise UserError(_too_large(Path(path), limit, what))
    return data


def _too_large(p: Path, limit: int, what: str) -> str:
    return f"{p}: larger than {limit} bytes, too large for a {what} file"


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _file_kind(mode: int) -> str:
    kinds = [(stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "device")]
    return next((name for test, name in kinds if test(mode)), "special file")


def load_torch(path: str | Path, device: torch.device | str = "cpu") -> Any:
    """Load a checkpoint as data only (``weights_only=True``): a checkpoint never runs code.

    Only a regular file is read (a FIFO named ``last.pt`` would make a resume hang).
    """
    with open_regular(path, CHECKPOINT_MAX_BYTES, "checkpoint") as f:
        return torch.load(f, map_location=device, weights_only=True)
