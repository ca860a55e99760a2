"""What ran beside a run while it was timed: parallel bench jobs, threads, the machine's load.

Each session of a run (its start and every ``--resume``) appends one record to ``spec.json``
``meta.contention``; reports mark the run's img/s and wall time as measured under contention
when any record says the machine was shared (see ``contended``). Torch-free.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

JOBS_ENV = "MTBENCH_JOBS"  # set by ``mtbench bench`` for each run process: runs at a time


def load_average() -> list[float] | None:
    """The 1-, 5- and 15-minute load averages; None where the system has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def session_start(torch_threads: int) -> dict:
    """This session's record at its start: bench jobs, threads, CPU count and load."""
    try:
        jobs = max(1, int(os.environ.get(JOBS_ENV, "1")))
    except ValueError:
        jobs = 1
    return {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "jobs": jobs,
        "torch_threads": torch_threads,
        "cpu_count": os.cpu_count(),
        "load_start": load_average(),
        "load_end": None,
    }


def session_end(record: dict) -> dict:
    """The record with the load at the session's end."""
    return record | {"load_end": load_average()}


def reasons(record: dict) -> list[str]:
    """Why a session's timings are not those of a quiet machine (empty when they are):
    other bench jobs beside it, more threads than cores, or a 1-minute load above the
    CPU count at its start or end (the run's own threads count towards the end's)."""
    cpus = record.get("cpu_count") or 0
    jobs = record.get("jobs") or 1
    out = [f"{jobs} jobs at a time"] if jobs > 1 else []
    threads = record.get("torch_threads") or 0
    if cpus and jobs * threads > cpus:
        out.append(f"{jobs * threads} threads on {cpus} cores")
    for when in ("start", "end"):
        load = record.get(f"load_{when}")
        if cpus and load and load[0] > cpus:
            out.append(f"load {load[0]:g} on {cpus} cores at {when}")
    return out


def contended(records: list[dict] | None) -> bool | None:
    """Whether any session ran under contention; None when the run recorded nothing."""
    if not records:
        return None
    return any(reasons(r) for r in records)
