"""A suite folder's record of bench sessions and its published tables (one ``publish()``)."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

from mtbench.bench.folders import now, read_json_file, tables_lock
from mtbench.bench.suite import Suite
from mtbench.io import write_json
from mtbench.layout import SuiteDir


def session_start(out: Path, suite: Suite, jobs: int, executor: str = "local") -> dict:
    """Record this bench invocation (command, machine, executor) in ``<out>/suite.json``."""
    import torch

    session = {
        "argv": sys.argv,
        "pid": os.getpid(),
        "started": now(),
        "finished": None,
        "jobs": jobs,
        "executor": executor,
        "runs": [r.run_id for r in suite.runs],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    with tables_lock(out):
        info = read_json_file(out / SuiteDir.SUITE)
        info.update(name=suite.spec.name, suite_file=str(suite.path))
        info["spec"] = suite.spec.model_dump(mode="json", by_alias=True)
        info.setdefault("sessions", []).append(session)
        write_json(out / SuiteDir.SUITE, info)
    return session


def write_suite_tables(out: Path, session: dict | None = None) -> None:
    """Regenerate ``<out>``'s tables, leaderboard, README and sample grids from its run folders
    (atomic writes), as ``mtbench report --out`` would (``mtbench.report.publish``)."""
    from mtbench import results
    from mtbench.report import publish

    with tables_lock(out):
        if session is not None:
            _mark_finished(out, session)
        tables = results.read_runs([out])
        title = read_json_file(out / SuiteDir.SUITE).get("name") or out.name
        publish(tables, out, [str(out)], None, title)


def _mark_finished(out: Path, session: dict) -> None:
    info = read_json_file(out / SuiteDir.SUITE)
    for s in info.get("sessions", []):
        if (s.get("pid"), s.get("started")) == (session["pid"], session["started"]):
            s["finished"] = now()
    write_json(out / SuiteDir.SUITE, info)
