"""The local executor: a pool of ``jobs`` run processes on this machine (the default)."""

from __future__ import annotations

import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor

from mtbench import hookimpl
from mtbench.api import ExecutorPlugin, Job, PluginConfig
from mtbench.bench.task import STOPPING, RunTask, execute, running, signal_running

GRACE_S = 10.0  # after Ctrl-C, how long runs get to checkpoint before one more SIGINT


class FutureJob(Job):
    """A task in the local pool."""

    def __init__(self, future: Future, job_id: str) -> None:
        self.future, self.job_id = future, job_id

    def done(self) -> bool:
        return self.future.done()

    def result(self) -> str:
        if self.future.cancelled():
            return "cancelled"
        try:
            return self.future.result()
        except Exception:
            return "failed"


class LocalExecutor(ExecutorPlugin):
    """Runs ``jobs`` runs at a time as child processes of the bench, in suite order. A thread
    per slot waits on its run process; Ctrl-C reaches the runs (same process group) and the
    bench waits for them to checkpoint; a SIGTERM to the bench alone is forwarded to them."""

    name = "local"
    description = "runs at a time on this machine, each its own process (the default)"
    owns_runs = True

    class Config(PluginConfig):
        """No options: ``--jobs`` sets how many runs run at once."""

    def __init__(self, cfg: PluginConfig, out, jobs: int) -> None:
        super().__init__(cfg, out, jobs)
        self.pool: ThreadPoolExecutor | None = None
        self.futures: list[Future] = []

    def submit(self, tasks: list[RunTask]) -> list[Job]:
        STOPPING.clear()
        self.pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="mtbench-run")
        jobs = []
        for i, task in enumerate(tasks):
            job_id = f"local-{i}"
            future = self.pool.submit(execute, task, job_id)
            self.futures.append(future)
            jobs.append(FutureJob(future, job_id))
        return jobs

    def stop(self, forward: bool) -> None:
        """Launch nothing more; let running runs stop after their step; a second Ctrl-C kills."""
        STOPPING.set()
        for f in self.futures:
            f.cancel()
        if forward:
            signal_running(signal.SIGTERM)
        try:
            self._drain(forwarded=forward)
        except KeyboardInterrupt:
            signal_running(signal.SIGKILL)
            self._drain(forwarded=True)

    def _drain(self, forwarded: bool) -> None:
        deadline = time.monotonic() + GRACE_S
        while running() or not all(f.done() for f in self.futures):
            if not forwarded and time.monotonic() > deadline:
                signal_running(signal.SIGINT)
                forwarded = True
            time.sleep(0.05)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


@hookimpl
def mtbench_executors() -> list[type[ExecutorPlugin]]:
    return [LocalExecutor]
