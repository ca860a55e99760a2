"""The one place that names what mtbench writes: run-folder files, suite-folder files, phases.

Torch-free and import-light, so readers of results (tables, reports, the bench) never load
the training stack. Everything else asks ``RunDir``/``SuiteDir`` for a path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Timing phases of one training step, in step order (steps.parquet has t_<phase> and t_total).
PHASES: tuple[str, ...] = ("data", "d_fwd", "d_bwd", "d_opt", "g_fwd", "g_bwd", "g_opt", "ema")
TABLES: tuple[str, ...] = ("runs", "steps", "evals")  # a suite's tables, <name>.parquet/.csv
# evals.parquet ``checkpoint`` of the rows a run writes while it trains; ``mtbench eval`` writes
# the checkpoint's name (last, best). The ``generator`` column says ema or raw in both.
LIVE = "live"


def phase_columns(with_total: bool = True) -> list[str]:
    """The steps-table columns of the phase timings, in step order."""
    return [f"t_{p}" for p in PHASES] + (["t_total"] if with_total else [])


@dataclass(frozen=True)
class RunDir:
    """Paths of one run folder (see README, "The run folder")."""

    root: Path

    SPEC = "spec.json"  # the resolved spec with meta
    STEPS = "steps.parquet"
    EVALS = "evals.parquet"
    SUMMARY = "summary.json"
    SAMPLES = "samples"
    CHECKPOINTS = "checkpoints"
    TB = "tb"
    RUN_SPEC = "run_spec.json"  # the spec a bench started the run process with
    BENCH = "bench.json"  # suite, variant, seed and every attempt (written by the bench)
    ERROR = "error.txt"  # a failed run's stderr tail (written by the bench)
    STDOUT = "stdout.txt"
    STDERR = "stderr.txt"
    LOCK = ".lock"  # the lease of whoever runs this folder (mtbench.lease), on any machine
    JOB = "job.json"  # the executor and job id a bench submitted this run as
    CANCEL = "cancel"  # asks a queued or running run of this folder to stop (bench --cancel)
    LAUNCH = "launch.json"  # rank 0's decision, which the other ranks of a cluster job follow
    RANK_LOGS = "ranks"  # stderr of the other ranks of a cluster job (ranks/stderr.<rank>.txt)
    MARKERS = (SPEC, SUMMARY, RUN_SPEC)  # any of these makes a folder a run folder
    WRITTEN = (SPEC, STEPS, EVALS, SUMMARY, SAMPLES, CHECKPOINTS, TB)  # what ``mtbench run`` writes
    # what a bench puts beside them
    BENCH_FILES = (RUN_SPEC, BENCH, ERROR, STDOUT, STDERR, LOCK, JOB, CANCEL, LAUNCH, RANK_LOGS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def file(self, name: str) -> Path:
        return self.root / name

    @property
    def spec(self) -> Path:
        return self.root / self.SPEC

    @property
    def steps(self) -> Path:
        return self.root / self.STEPS

    @property
    def evals(self) -> Path:
        return self.root / self.EVALS

    @property
    def summary(self) -> Path:
        return self.root / self.SUMMARY

    @property
    def samples(self) -> Path:
        return self.root / self.SAMPLES

    @property
    def tb(self) -> Path:
        return self.root / self.TB

    @property
    def last(self) -> Path:
        return self.root / self.CHECKPOINTS / "last.pt"

    @property
    def best(self) -> Path:
        return self.root / self.CHECKPOINTS / "best.pt"

    def write_dirs(self) -> tuple[Path, ...]:
        """The folders a run writes files into atomically (where a kill can leave temp files)."""
        return (self.root, self.root / self.CHECKPOINTS, self.samples)

    def sample_path(self, step: int) -> Path:
        return self.samples / f"step_{step:06d}.png"

    def is_run(self) -> bool:
        return any((self.root / f).is_file() for f in self.MARKERS)


@dataclass(frozen=True)
class SuiteDir:
    """Paths of a suite's results folder: its run folders plus the files below."""

    root: Path

    SUITE = "suite.json"  # the suite spec and every bench session (command, machine, times)
    TABLES_LOCK = ".tables.lock"  # serializes table regeneration
    EXECUTOR_FILES = ".executor"  # what an executor keeps for itself (submitit's job folders)
    LEADERBOARD = "leaderboard.md"
    README = "README.md"
    SAMPLES = "samples"  # samples/<variant>.png in a published folder
    REPORT_MARK = ".mtbench-report"  # marks a folder written by ``mtbench report --out``

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def file(self, name: str) -> Path:
        return self.root / name

    def run(self, run_id: str) -> RunDir:
        return RunDir(self.root / run_id)

    def table(self, name: str, ext: str = "parquet") -> Path:
        return self.root / f"{name}.{ext}"
