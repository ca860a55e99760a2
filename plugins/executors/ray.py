"""The Ray executor: each run a Ray task with its CPUs and GPUs, on a cluster or a local Ray.

Runs are ``ray.remote`` tasks (``num_cpus``/``num_gpus`` per run) on an existing cluster
(``address``: ``auto``, ``HOST:PORT`` or ``ray://HOST:10001``) or on a Ray instance started
for the bench on this machine (no address). Ray's usage statistics are off unless the user
turned them on. Tasks are owned by the bench: when the bench stops, their runs are asked to
stop after their step (they checkpoint) and the next bench resumes them.
"""

from __future__ import annotations

import os
import threading
import time

from pydantic import Field

from mtbench import hookimpl
from mtbench.api import ExecutorPlugin, Job, PluginConfig
from mtbench.bench.task import RunTask, execute
from mtbench.errors import UserError
from mtbench.io import atomic_write_bytes
from mtbench.layout import RunDir


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("executor ray needs Ray: pip install 'mtbench[ray]'") from None
    return ray


def run_task(task: RunTask) -> str:
    """What a Ray worker calls (module level, so workers import it by name)."""
    return execute(task, f"ray:{os.getpid()}")


class RayJob(Job):
    def __init__(self, ray, ref, task: RunTask) -> None:
        self.ray, self.ref, self.task, self.job_id = ray, ref, task, ref.hex()

    def done(self) -> bool:
        ready, _ = self.ray.wait([self.ref], timeout=0)
        return bool(ready)

    def result(self) -> str:
        try:
            return self.ray.get(self.ref)
        except Exception:  # the worker died, or the task was cancelled
            return "failed"


class RayExecutor(ExecutorPlugin):
    """Runs the suite as Ray tasks; with no address, on a Ray instance on this machine."""

    name = "ray"
    description = "each run a Ray task (num_cpus/num_gpus per run), on a cluster or locally"
    owns_runs = True

    class Config(PluginConfig):
        address: str | None = Field(
            None, description="auto, HOST:PORT or ray://HOST:10001; none: a local Ray instance"
        )
        cpus_per_run: float = Field(1.0, gt=0)
        gpus_per_run: float = Field(0.0, ge=0)
        connect_timeout_s: float = Field(30.0, gt=0, description="give up on an address after")
        max_retries: int = Field(1, ge=0, description="retries of a run whose worker died")

    def __init__(self, cfg: PluginConfig, out, jobs: int) -> None:
        super().__init__(cfg, out, jobs)
        self.ray = None
        self.jobs_: list[RayJob] = []

    def check(self) -> None:
        ray = _ray()
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        error = _init_within(ray, self._init_args(), self.cfg.connect_timeout_s)
        if error is not None:
            where = self.cfg.address or "a local instance"
            raise UserError(
                f"executor.address: no Ray cluster answers at {where} within "
                f"{self.cfg.connect_timeout_s:g} s ({error}); check the address (ray status "
                "on the head node), or leave it out to start Ray on this machine"
            )
        self.ray = ray

    def _init_args(self) -> dict:
        args = dict(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        if self.cfg.address:
            return args | {"address": self.cfg.address}
        return args | {"num_cpus": max(1, int(self.jobs * self.cfg.cpus_per_run))}

    def submit(self, tasks: list[RunTask]) -> list[Job]:
        remote = self.ray.remote(
            num_cpus=self.cfg.cpus_per_run,
            num_gpus=self.cfg.gpus_per_run,
            max_retries=self.cfg.max_retries,
        )(run_task)
        self.jobs_ = [RayJob(self.ray, remote.remote(t), t) for t in tasks]
        return list(self.jobs_)

    def stop(self, forward: bool) -> None:
        """Ask every unfinished run to stop after its step (cancel marker), wait for them."""
        for job in self.jobs_:
            if not job.done():
                atomic_write_bytes(RunDir(job.task.root).file(RunDir.CANCEL), b"bench stopped\n")
        while not all(j.done() for j in self.jobs_):
            time.sleep(0.2)

    def close(self) -> None:
        if self.ray is not None and self.ray.is_initialized():
            self.ray.shutdown()


def _init_within(ray, args: dict, timeout_s: float) -> str | None:
    """``ray.init`` in a thread, so an address that never answers costs ``timeout_s``."""
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            ray.init(**args)
            outcome.append(None)
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError of a bad address
            outcome.append(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")

    t = threading.Thread(target=connect, daemon=True)
    t.start()
    t.join(timeout_s)
    return outcome[0] if outcome else "timed out"


@hookimpl
def mtbench_executors() -> list[type[ExecutorPlugin]]:
    return [RayExecutor]
