"""``mtbench bench --status`` and ``--cancel``: what each run of a suite is doing, read from the
run folders (and the job ids recorded in them), whatever executor runs them."""

from __future__ import annotations

from pathlib import Path

from mtbench import lease
from mtbench.bench import folders
from mtbench.bench.suite import Suite
from mtbench.io import atomic_write_bytes
from mtbench.layout import RunDir

STATES = ("done", "running", "queued", "interrupted", "failed", "diverged", "cancelled", "new")


def state(rd: RunDir, planned_steps: int) -> str:
    """One of ``STATES`` for a run folder, from its files alone."""
    s = folders.read_summary(rd) or {}
    if s.get("status") == "done" and s.get("steps", 0) >= planned_steps:
        return "done"
    if s.get("status") == "diverged":
        return "diverged"
    if lease.alive(folders.lease_path(rd)):
        return "running"
    if folders.cancel_requested(rd):
        return "cancelled"
    if _queued(rd):
        return "queued"
    if rd.file(RunDir.ERROR).exists():
        return "failed"
    return "interrupted" if rd.last.exists() else "new"


def _queued(rd: RunDir) -> bool:
    """Submitted (job.json) after its last attempt started, and not running."""
    job = folders.read_json_file(rd.file(RunDir.JOB))
    if not job:
        return False
    attempts = folders.read_bench(rd).get("attempts") or []
    return not attempts or attempts[-1].get("started", "") < job.get("submitted", "")


def rows(suite: Suite, out: Path) -> list[dict]:
    """One row per planned run: state, steps so far, attempts, executor and job id."""
    table = []
    for p in suite.runs:
        rd = RunDir(out / p.run_id)
        job = folders.read_json_file(rd.file(RunDir.JOB))
        s = folders.read_summary(rd) or {}
        table.append(
            {
                "run": p.run_id,
                "state": state(rd, p.spec["train"]["steps"]),
                "steps": f"{s.get('steps', 0)}/{p.spec['train']['steps']}",
                "attempts": len(folders.read_bench(rd).get("attempts") or []),
                "executor": job.get("executor", ""),
                "job": job.get("job_id", ""),
            }
        )
    return table


def render(table: list[dict]) -> str:
    """The table as aligned text, with a count of each state."""
    if not table:
        return "no runs\n"
    cols = list(table[0])
    width = {c: max(len(c), *(len(str(r[c])) for r in table)) for c in cols}
    lines = ["  ".join(c.ljust(width[c]) for c in cols)]
    lines += ["  ".join(str(r[c]).ljust(width[c]) for c in cols) for r in table]
    counts = {s: sum(r["state"] == s for r in table) for s in STATES}
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items() if n))
    return "\n".join(line.rstrip() for line in lines) + "\n"


def request_cancel(suite: Suite, out: Path) -> dict[str, list[str]]:
    """Mark every unfinished run cancelled (a queued one will not start, a running one stops
    after its step and checkpoints); the job ids to cancel, by executor."""
    ids: dict[str, list[str]] = {}
    for p in suite.runs:
        rd = RunDir(out / p.run_id)
        if not rd.root.is_dir() or state(rd, p.spec["train"]["steps"]) in ("done", "diverged"):
            continue
        atomic_write_bytes(rd.file(RunDir.CANCEL), b"mtbench bench --cancel\n")
        job = folders.read_json_file(rd.file(RunDir.JOB))
        if job.get("job_id"):
            ids.setdefault(job.get("executor", ""), []).append(str(job["job_id"]))
    return ids
