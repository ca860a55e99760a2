"""Benchmark suites: a base spec, variants of it and seeds, each run as its own process.

Each variant x seed is one run folder ``<out>/<variant>-s<seed>/``, carried out by an executor
(a plugin: the local pool by default, Slurm through submitit, Ray). The run folders are the
source of truth: a re-run skips finished runs, resumes interrupted ones from their checkpoint
and starts the rest; each folder's lease lets several benches, on several machines sharing one
filesystem, share one results folder without doing a run twice; the suite tables are
regenerated from the folders after every run.

``suite`` reads and resolves suite files; ``folders`` reads run-folder state; ``task`` carries
out one run wherever an executor puts it; ``dispatch`` runs a suite; ``tables`` publishes it;
``status`` reports and cancels.
"""

from mtbench.bench.dispatch import BenchResult, plan_actions, run_suite
from mtbench.bench.folders import decide
from mtbench.bench.suite import PlannedRun, Suite, SuiteSpec, load_suite, parse_suite

__all__ = [
    "BenchResult",
    "PlannedRun",
    "Suite",
    "SuiteSpec",
    "decide",
    "load_suite",
    "parse_suite",
    "plan_actions",
    "run_suite",
]
