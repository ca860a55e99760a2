"""One suite run as a task any executor can carry out: claim the folder, decide, train, record.

``execute`` runs wherever the executor puts it (a thread of the bench, a Slurm job, a Ray
worker): it takes the folder's lease, decides skip, resume or start from the folder's files,
runs ``python -m mtbench run`` as its own process (so a crash takes down one run only), and
records the attempt. Deciding there, not when the task was queued, is what makes a requeued
or retried job resume from its checkpoint instead of starting over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from mtbench import contention, lease
from mtbench.bench import folders
from mtbench.io import atomic_write_bytes, write_json
from mtbench.layout import RunDir

ERROR_TAIL = 40  # lines of a failed run's stderr kept in error.txt
STOPPED = (130, 143, -signal.SIGINT, -signal.SIGTERM)  # return codes of a run stopped by a signal
POLL_S = 0.2
STATUSES = ("done", "diverged", "interrupted", "failed", "skipped", "elsewhere", "cancelled")


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs to carry out one variant x seed (plain data: picklable)."""

    run_id: str
    root: str  # the run folder, on a filesystem the workers share
    suite: str
    variant: str
    seed: int
    spec: dict  # the resolved spec (threads unset)
    jobs: int  # how many runs share one machine (recorded with timings)
    since: float  # the bench's start: a failure newer than this is not retried by it
    executor: str = "local"

    @property
    def steps(self) -> int:
        return self.spec["train"]["steps"]


_RUNNING: dict[str, subprocess.Popen] = {}  # run_id -> its run process, in this process
_LOCK = threading.Lock()
STOPPING = threading.Event()  # set by an executor that stops this process's runs: start no more


def execute(task: RunTask, job_id: str = "", ranks: int = 1) -> str:
    """Carry out one task; returns one of ``STATUSES``. With ``ranks`` > 1 this is rank 0 of
    a job whose other ranks (``execute_rank``) follow its decision, told in launch.json."""
    rd = RunDir(task.root)
    if folders.cancel_requested(rd):
        return _told(rd, job_id, ranks, "cancelled")
    held = lease.claim(folders.lease_path(rd), job=job_id or f"{task.executor}:{os.getpid()}")
    if held is None:
        return _told(rd, job_id, ranks, "elsewhere")
    try:
        mode = folders.decide(rd, task.steps, task.since)
        if mode == "skip":
            return _told(rd, job_id, ranks, "skipped")
        return _attempt(task, rd, mode, held, job_id, ranks)
    finally:
        held.release()


def _told(rd: RunDir, job_id: str, ranks: int, decision: str) -> str:
    """Tell the other ranks of this job what rank 0 decided (nothing to tell alone)."""
    if ranks > 1:
        write_json(rd.file(RunDir.LAUNCH), {"job_id": job_id, "decision": decision})
    return decision


def execute_rank(task: RunTask, job_id: str, timeout_s: float = 600.0) -> str:
    """A rank > 0 of a multi-process run: wait for rank 0's decision, then run the same
    ``mtbench run`` (the torch.distributed variables are in the environment)."""
    rd = RunDir(task.root)
    deadline = time.monotonic() + timeout_s
    while (told := folders.read_json_file(rd.file(RunDir.LAUNCH))).get("job_id") != job_id:
        if time.monotonic() > deadline:
            return "failed"
        time.sleep(POLL_S)
    if told["decision"] not in ("start", "resume"):
        return told["decision"]
    cmd = _command(rd, told["decision"])
    logs = rd.file(RunDir.RANK_LOGS)
    logs.mkdir(exist_ok=True)
    with open(logs / f"stderr.{os.environ.get('RANK', '?')}.txt", "wb") as err:
        rc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=err).returncode
    return "done" if rc == 0 else "failed"


def _command(rd: RunDir, mode: str) -> list[str]:
    cmd = [sys.executable, "-m", "mtbench", "run", str(rd.file(RunDir.RUN_SPEC))]
    return cmd + ["--out", str(rd.root)] + (["--resume"] if mode == "resume" else [])


def _attempt(
    task: RunTask, rd: RunDir, mode: str, held: lease.Lease, job_id: str, ranks: int
) -> str:
    if STOPPING.is_set():
        return _told(rd, job_id, ranks, "cancelled")
    folders.clear_for(rd, mode)
    proc, t0, info = _launch(task, rd, mode, held, job_id, ranks)
    held.keep_alive()
    try:
        _wait(task, rd, proc)
    finally:
        with _LOCK:
            _RUNNING.pop(task.run_id, None)
    return _finish(task, rd, proc, t0, info)


def _launch(task: RunTask, rd: RunDir, mode: str, held: lease.Lease, job_id: str, ranks: int):
    """Start ``python -m mtbench run`` for the task, handing it the lease."""
    spec = json.loads(json.dumps(task.spec))
    threads = folders.threads_for(task.spec, rd, task.jobs)
    spec["train"]["threads"] = threads
    write_json(rd.file(RunDir.RUN_SPEC), spec)
    _told(rd, job_id, ranks, mode)
    cmd = _command(rd, mode)
    env = dict(os.environ, **{contention.JOBS_ENV: str(task.jobs)}, **held.env())
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with open(rd.file(RunDir.STDOUT), "wb") as out, open(rd.file(RunDir.STDERR), "wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, pass_fds=(held.fd,))
    with _LOCK:
        _RUNNING[task.run_id] = proc
    info = folders.read_bench(rd) or {"suite": task.suite, "variant": task.variant}
    info.setdefault("seed", task.seed)
    attempt = {"mode": mode, "started": folders.now(), "pid": proc.pid, "returncode": None}
    attempt.update(wall_s=None, executor=task.executor, job_id=job_id or None)
    info.setdefault("attempts", []).append(attempt)
    write_json(rd.file(RunDir.BENCH), info)
    return proc, time.perf_counter(), info


def _wait(task: RunTask, rd: RunDir, proc: subprocess.Popen) -> None:
    """Wait for the run; a cancel request stops it after its step (it checkpoints first)."""
    asked = False
    while proc.poll() is None:
        if not asked and folders.cancel_requested(rd):
            proc.send_signal(signal.SIGTERM)
            asked = True
        time.sleep(POLL_S)


def _finish(task: RunTask, rd: RunDir, proc: subprocess.Popen, t0: float, info: dict) -> str:
    """Record how the run process ended; returns done, diverged, interrupted or failed."""
    rc = proc.returncode
    info["attempts"][-1].update(returncode=rc, wall_s=time.perf_counter() - t0)
    write_json(rd.file(RunDir.BENCH), info)
    s = folders.read_summary(rd)
    status = s.get("status") if s else None
    if status in ("done", "diverged", "interrupted") and rc in (0, 1, 130):
        return status
    if rc in STOPPED:  # Ctrl-C or SIGTERM before the run could checkpoint: not its fault
        return "interrupted"
    text = folders.tail(rd.file(RunDir.STDERR), ERROR_TAIL)
    message = f"{task.run_id}: the run process exited with code {rc}\n{text}"
    atomic_write_bytes(rd.file(RunDir.ERROR), message.encode())
    return "failed"


def signal_running(sig: int) -> int:
    """Send ``sig`` to every run process this process started; how many were running."""
    with _LOCK:
        procs = [p for p in _RUNNING.values() if p.poll() is None]
    for p in procs:
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
    return len(procs)


def running() -> int:
    """How many run processes this process has started that still run."""
    with _LOCK:
        return sum(p.poll() is None for p in _RUNNING.values())
