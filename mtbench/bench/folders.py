"""Run-folder state: what a bench does with a folder (skip, resume, start), read from its files.

The run folders are the source of truth whatever the executor: a finished run is skipped, an
interrupted one resumed from its checkpoint, the rest started; who is running a folder is its
lease (``mtbench.lease``), which holds across machines on a shared filesystem.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from mtbench.io import write_json
from mtbench.layout import RunDir, SuiteDir


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_json_file(path: Path) -> dict:
    """A JSON object from ``path``, or {} when it is missing or half written."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def read_summary(rd: RunDir) -> dict | None:
    return read_json_file(rd.summary) or None


def read_bench(rd: RunDir) -> dict:
    return read_json_file(rd.file(RunDir.BENCH))


def lease_path(rd: RunDir) -> Path:
    return rd.file(RunDir.LOCK)


def decide(rd: RunDir, planned_steps: int, since: float | None = None) -> str:
    """``skip`` a finished run (or one that failed after ``since``, in a concurrent bench),
    ``resume`` one with a checkpoint, else ``start`` (a failed run is retried). A folder
    without spec.json holds no finished run, whatever else it holds (its folder was removed)."""
    has_spec = rd.spec.is_file()
    s = read_summary(rd) if has_spec else None
    if s is not None and s.get("status") == "diverged":
        return "skip"  # deterministic: a retry would diverge again
    if s is not None and s.get("status") == "done" and s.get("steps", 0) >= planned_steps:
        return "skip"
    error = rd.file(RunDir.ERROR)
    if since is not None and error.exists() and error.stat().st_mtime >= since:
        return "skip"
    return "resume" if has_spec and rd.last.exists() else "start"


def clear_for(rd: RunDir, mode: str) -> None:
    """Drop what a new attempt replaces: the old outcome, and on a fresh start old tables."""
    stale = [rd.summary, rd.file(RunDir.ERROR)]
    if mode == "start":
        stale += [rd.steps, rd.evals]
    if mode == "start" and not rd.spec.is_file():  # checkpoints of no known spec: unusable
        stale += [rd.last, rd.best]
    for p in stale:
        p.unlink(missing_ok=True)


def threads_for(spec: dict, rd: RunDir, jobs: int) -> int | None:
    """The spec's threads; else, on resume, the ones the run started with (the spec hash
    includes them); else 1 when several runs share the machine."""
    t = spec["train"].get("threads")
    if t is not None:
        return t
    if rd.spec.exists():
        try:
            return json.loads(rd.spec.read_text())["train"].get("threads")
        except (OSError, ValueError, KeyError):
            pass
    return 1 if jobs > 1 else None


def tail(path: Path, n: int) -> str:
    """The last ``n`` lines of a text file ("" when unreadable)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:]) + "\n"


def record_job(rd: RunDir, executor: str, job_id: str) -> None:
    """Say in the run folder which job of which executor carries it out (``job.json``)."""
    rd.root.mkdir(parents=True, exist_ok=True)
    record = {"executor": executor, "job_id": job_id, "submitted": now()}
    write_json(rd.file(RunDir.JOB), record)


def cancel_requested(rd: RunDir) -> bool:
    return rd.file(RunDir.CANCEL).exists()


@contextmanager
def tables_lock(out: Path) -> Iterator[None]:
    """Serialize table regeneration, so the last writer is also the last reader."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / SuiteDir.TABLES_LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
