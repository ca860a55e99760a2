"""Running a suite: hand every run not yet finished to an executor, wait, publish the tables.

The bench decides nothing an executor could get wrong: each task claims its folder and
decides skip, resume or start where it runs (``mtbench.bench.task``). The bench filters out
what is plainly finished or held (so no cluster job is spent on it), records each job id in
the run folder (``job.json``), regenerates the suite tables after every finished run, and on
Ctrl-C or SIGTERM asks the executor to stop what it owns.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from mtbench import lease
from mtbench.api import ExecutorPlugin, Job
from mtbench.bench import folders
from mtbench.bench.suite import Suite
from mtbench.bench.tables import session_start, write_suite_tables
from mtbench.bench.task import ERROR_TAIL, RunTask
from mtbench.errors import UserError
from mtbench.layout import RunDir


@dataclass
class BenchResult:
    out: Path
    counts: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    detached: int = 0  # jobs left queued or running (--detach, or a cluster executor stopped)

    def add(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1


class _Stop(Exception):
    """SIGTERM: stop waiting, let owned runs checkpoint, write tables."""


def _raise_stop(signum, frame) -> None:
    raise _Stop


def plan_actions(suite: Suite, out: str | Path) -> list[tuple[str, str]]:
    """What a bench would do with each run now (skip, resume, start, elsewhere), unlocked."""
    return [(p.run_id, _action(RunDir(Path(out) / p.run_id), p.spec)) for p in suite.runs]


def _action(rd: RunDir, spec: dict, since: float | None = None) -> str:
    if lease.alive(folders.lease_path(rd)):
        return "elsewhere"
    return folders.decide(rd, spec["train"]["steps"], since)


def run_suite(
    suite: Suite,
    out: str | Path,
    jobs: int = 1,
    progress: bool = True,
    poll_s: float = 0.2,
    executor: ExecutorPlugin | None = None,
    detach: bool = False,
) -> BenchResult:
    """Run every planned run not yet finished through ``executor`` (default: the local pool,
    ``jobs`` at a time); write the suite tables."""
    out = Path(out)
    executor = executor or default_executor(out, jobs)
    if detach and executor.owns_runs:
        raise UserError(
            f"--detach: the {executor.name} executor's runs live in this command; use a "
            "cluster executor (--executor slurm) to submit and return"
        )
    executor.check()
    out.mkdir(parents=True, exist_ok=True)
    result = BenchResult(out)
    since = time.time()
    session = session_start(out, suite, jobs, executor.name)
    old = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        _submit_and_wait(suite, out, jobs, since, executor, result, progress, poll_s, detach)
    finally:
        signal.signal(signal.SIGTERM, old)
        executor.close()
        write_suite_tables(out, session)
    return result


def default_executor(out: Path, jobs: int) -> ExecutorPlugin:
    from mtbench.registry import Registry

    cls = Registry.discover().get("executor", "local")
    return cls(cls.Config(), out, jobs)


def _submit_and_wait(suite, out, jobs, since, executor, result, progress, poll_s, detach):
    from tqdm import tqdm

    bar = tqdm(total=len(suite.runs), unit="run", desc=suite.spec.name, disable=not progress)
    with bar:
        tasks = _tasks(suite, out, jobs, since, executor.name, result, bar)
        submitted = executor.submit(tasks) if tasks else []
        for task, job in zip(tasks, submitted, strict=True):
            folders.record_job(RunDir(task.root), executor.name, str(job.job_id))
        if detach:
            result.detached = len(submitted)
            return
        pending = list(zip(tasks, submitted, strict=True))
        try:
            _wait(pending, out, result, bar, poll_s)
        except (KeyboardInterrupt, _Stop) as exc:
            result.interrupted = True
            _stopped(executor, pending, result, bar, forward=isinstance(exc, _Stop))


def _tasks(suite, out, jobs, since, name, result, bar) -> list[RunTask]:
    """The runs to hand out: not finished, not held by another bench (with a fresh ask)."""
    tasks = []
    for p in suite.runs:
        rd = RunDir(out / p.run_id)
        action = _action(rd, p.spec, since)
        if action in ("skip", "elsewhere"):
            result.add("skipped" if action == "skip" else "elsewhere")
            bar.update(1)
            if action == "elsewhere":
                bar.write(f"{p.run_id}: being run by another process; skipped")
            continue
        rd.file(RunDir.CANCEL).unlink(missing_ok=True)  # a new bench asks anew
        root = str(rd.root)
        tasks.append(
            RunTask(p.run_id, root, suite.spec.name, p.variant, p.seed, p.spec, jobs, since, name)
        )
    return tasks


def _wait(pending: list[tuple[RunTask, Job]], out, result, bar, poll_s) -> None:
    while pending:
        time.sleep(poll_s)
        for task, job in [(t, j) for t, j in pending if j.done()]:
            pending.remove((task, job))
            _close(task, job, result, bar)
            write_suite_tables(out)


def _close(task: RunTask, job: Job, result: BenchResult, bar) -> str:
    status = job.result()
    result.add(status)
    bar.update(1)
    bar.write(_line(task, status))
    return status


def _line(task: RunTask, status: str) -> str:
    rd = RunDir(task.root)
    attempts = folders.read_bench(rd).get("attempts") or [{}]
    last = attempts[-1]
    line = f"{task.run_id}: {status}"
    if status in ("done", "diverged", "interrupted", "failed"):
        line += f" ({last.get('mode')}, {last.get('wall_s') or 0:.0f} s)"
    if status in ("failed", "diverged"):
        detail = _last_line(rd)
        line += f": {detail}" if detail else ""
    return line


def _last_line(rd: RunDir) -> str:
    s = folders.read_summary(rd)
    if s and s.get("error"):
        return str(s["error"])
    text = folders.tail(rd.file(RunDir.STDERR), ERROR_TAIL)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _stopped(executor, pending: list[tuple[RunTask, Job]], result, bar, forward: bool) -> None:
    """Interrupted: an executor that owns its runs stops them (they checkpoint) and their
    outcomes are recorded; a cluster's jobs carry on, and the bench says so."""
    executor.stop(forward)
    for task, job in pending:
        if job.done() and job.result() != "cancelled":
            _close(task, job, result, bar)
        elif not job.done():
            result.detached += 1
