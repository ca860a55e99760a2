"""The Slurm executor: one job-array task per run, through submitit (Meta's Slurm launcher).

A run that asks for several GPUs is one job of ``gpus_per_run`` tasks on one node, which run
the run under torch.distributed (submitit's ``TorchDistributedEnvironment`` sets what torchrun
would). A preempted or timed-out job is requeued (submitit ``Checkpointable``): the run is
asked to stop after its step (it checkpoints), and the requeued job resumes it, because every
task decides skip, resume or start from the run folder when it starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from pydantic import Field

from mtbench import hookimpl
from mtbench.api import ExecutorPlugin, Job, PluginConfig
from mtbench.bench.folders import record_job
from mtbench.bench.task import RunTask, execute, execute_rank, running, signal_running
from mtbench.errors import UserError
from mtbench.layout import RunDir, SuiteDir

CHECKPOINT_WAIT_S = 120.0  # how long a preempted job waits for its run to checkpoint


class SubmititJob(Job):
    def __init__(self, job) -> None:
        self.job, self.job_id = job, str(job.job_id)

    def done(self) -> bool:
        return self.job.done()

    def result(self) -> str:
        try:
            return self.job.results()[0]  # rank 0's (a multi-task job has one per rank)
        except Exception:  # the job itself died (node failure, out of memory, cancelled)
            return "failed"


class Throttled(SubmititJob):
    """A task for submitit's stand-ins on this machine, which start every job at once: it is
    submitted when one of ``jobs`` slots frees (on Slurm, the array's parallelism does this)."""

    def __init__(self, slots: _Slots, task: RunTask) -> None:
        self.slots, self.task, self.job, self.job_id = slots, task, None, "waiting"

    def done(self) -> bool:
        self.slots.fill()
        return self.job is not None and self.job.done()


class _Slots:
    def __init__(self, executor, jobs: int) -> None:
        self.executor, self.jobs, self.waiting = executor, jobs, []

    def fill(self) -> None:
        busy = sum(t.job is not None and not t.job.done() for t in self.waiting)
        for t in [t for t in self.waiting if t.job is None][: max(0, self.jobs - busy)]:
            t.job = self.executor.submit(RunInJob(loopback=True), t.task)
            t.job_id = str(t.job.job_id)
            record_job(RunDir(t.task.root), "slurm", t.job_id)


def _submitit():
    try:
        import submitit
    except ImportError:
        raise UserError("executor slurm needs submitit: pip install 'mtbench[slurm]'") from None
    return submitit


def _checkpointable_base():
    try:
        from submitit.helpers import Checkpointable
    except ImportError:
        return object
    return Checkpointable


class RunInJob(_checkpointable_base()):
    """What each Slurm task calls: rank 0 carries out the run, other ranks join it."""

    def __init__(self, loopback: bool = False) -> None:
        self.loopback = loopback  # submitit's stand-ins: the ranks meet on 127.0.0.1

    def __call__(self, task: RunTask) -> str:
        submitit = _submitit()
        env = submitit.JobEnvironment()
        job_id = str(env.job_id)
        if env.num_tasks == 1:
            return execute(task, job_id)
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        if self.loopback:
            os.environ["MASTER_ADDR"] = "127.0.0.1"
        if env.global_rank == 0:
            return execute(task, job_id, ranks=env.num_tasks)
        return execute_rank(task, job_id)

    def checkpoint(self, task: RunTask):
        """Preempted or out of time: let the run checkpoint, then requeue this same task."""
        signal_running(signal.SIGTERM)
        deadline = time.monotonic() + CHECKPOINT_WAIT_S
        while running() and time.monotonic() < deadline:
            time.sleep(0.5)
        return _submitit().helpers.DelayedSubmission(self, task)


class SlurmExecutor(ExecutorPlugin):
    """Submits the suite as one Slurm job array (``jobs`` at a time), through submitit."""

    name = "slurm"
    description = "one Slurm job-array task per run, through submitit; requeues resume"

    class Config(PluginConfig):
        partition: str | None = Field(None, description="Slurm partition (-p)")
        gpus_per_run: int = Field(0, ge=0, description="GPUs per run; >1: torch.distributed")
        ranks_per_run: int | None = Field(
            None, ge=1, description="processes per run (default: one per GPU, else 1)"
        )
        cpus_per_run: int = Field(2, ge=1, description="CPUs per task")
        mem_gb: float | None = Field(None, gt=0, description="memory per node")
        time_min: int = Field(240, ge=1, description="time limit per job (minutes)")
        account: str | None = None
        qos: str | None = None
        constraint: str | None = None
        max_requeues: int = Field(3, ge=0, description="requeues after preemption or timeout")
        extra: dict[str, str | int] = Field(
            default_factory=dict, description="more sbatch options, e.g. {'exclusive': ''}"
        )
        cluster: str = Field(
            "slurm",
            pattern="^(slurm|local|debug)$",
            description="slurm; or local/debug: submitit's stand-ins on this machine, to try a "
            "suite before it goes to the cluster (and for tests)",
        )

    owns_runs = False

    def check(self) -> None:
        _submitit()
        if self.cfg.cluster != "slurm":
            return
        if shutil.which("sbatch") is None:
            raise UserError(
                "executor slurm: no Slurm here (sbatch is not on PATH); run mtbench bench on a "
                "Slurm login node, or use --executor local"
            )
        _controller_answers()

    def _executor(self):
        folder = self.out / SuiteDir.EXECUTOR_FILES / "slurm" / "%j"
        ex = _submitit().AutoExecutor(
            folder=folder, cluster=self.cfg.cluster, slurm_max_num_timeout=self.cfg.max_requeues
        )
        ex.update_parameters(**self._parameters())
        return ex

    def _parameters(self) -> dict:
        c = self.cfg
        ranks = c.ranks_per_run or max(1, c.gpus_per_run)
        params = dict(
            name="mtbench",
            timeout_min=c.time_min,
            tasks_per_node=ranks,
            nodes=1,
            cpus_per_task=c.cpus_per_run,
            slurm_array_parallelism=self.jobs,
        )
        if c.gpus_per_run:
            params["gpus_per_node"] = c.gpus_per_run
        if c.mem_gb:
            params["mem_gb"] = c.mem_gb
        for key in ("partition", "account", "qos", "constraint"):
            if getattr(c, key):
                params[f"slurm_{key}"] = getattr(c, key)
        if c.extra:
            params["slurm_additional_parameters"] = dict(c.extra)
        return params

    def submit(self, tasks: list[RunTask]) -> list[Job]:
        if self.cfg.cluster == "slurm":
            return [SubmititJob(j) for j in self._executor().map_array(RunInJob(), tasks)]
        slots = _Slots(self._executor(), self.jobs)
        slots.waiting = [Throttled(slots, t) for t in tasks]
        slots.fill()
        return list(slots.waiting)

    def cancel(self, job_ids: list[str]) -> None:
        if self.cfg.cluster == "slurm" and job_ids:
            subprocess.run(["scancel", *job_ids], check=False, timeout=60)


def _controller_answers() -> None:
    """One line, before anything is submitted, when the Slurm controller does not answer."""
    try:
        done = subprocess.run(
            ["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserError(f"executor slurm: sinfo did not answer ({exc}); is Slurm up?") from None
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"executor slurm: the Slurm controller does not answer: {why}")


@hookimpl
def mtbench_executors() -> list[type[ExecutorPlugin]]:
    return [SlurmExecutor]
