"""Benchmark suites: a base spec, variants of it and seeds, run as separate processes.

A suite file names a base run spec (a path relative to the suite file, or an inline object),
variants (dotted overrides of the base, or a path to a full spec), seeds and ``shared``
overrides applied to every variant (the common protocol: steps, eval). Every variant is
resolved before anything runs, so a typo fails at once with its path
(``variants[2].set.train.stepz: ...``).

Each variant x seed is one run folder ``<out>/<variant>-s<seed>/`` trained by its own
``python -m mtbench run`` process, ``jobs`` at a time, so a crash takes down one run only. The
run folders are the source of truth: a re-run skips finished runs, resumes interrupted ones
from their checkpoint and starts the rest; an exclusive lock per run folder (held by the
bench and the run process) lets two benches share one results folder without doing a run
twice; the suite tables are regenerated from the folders after every run.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from mtbench import contention
from mtbench.errors import SpecError, UserError
from mtbench.evaluate.spec import PathText
from mtbench.io import atomic_write_bytes, write_json
from mtbench.layout import RunDir, SuiteDir
from mtbench.registry import Registry
from mtbench.spec import MAX_NAME, MAX_SEED

NAME = r"^[A-Za-z0-9_.-]+$"
RESERVED = ("name", "seed", "out", "meta")  # set by the suite itself, per variant and seed
LOCK = RunDir.LOCK
TABLES_LOCK = SuiteDir.TABLES_LOCK
RUN_SPEC = RunDir.RUN_SPEC
BENCH_FILE = RunDir.BENCH
ERROR_FILE = RunDir.ERROR
ERROR_TAIL = 40  # lines of a failed run's stderr kept in error.txt
STOPPED = (130, 143, -signal.SIGINT, -signal.SIGTERM)  # return codes of a run stopped by a signal


def _error(msg: str) -> PydanticCustomError:
    return PydanticCustomError("suite", msg)


# ----------------------------------------------------------------------------- the spec


class VariantSpec(BaseModel):
    """One variant: overrides of the base (``set``), or a full spec file (``spec``), or both."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=NAME)
    overrides: dict[str, Any] = Field(
        default_factory=dict, alias="set", description="dotted.key: JSON value"
    )
    spec: PathText | None = Field(None, description="run spec file, relative to suite")


class SuiteSpec(BaseModel):
    """A benchmark suite: base spec x variants x seeds, with shared protocol overrides."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=NAME)
    description: str = ""
    base: Any = Field(None, description="run spec file (relative to the suite) or inline object")
    variants: list[VariantSpec] = Field(min_length=1)
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(min_length=1)
    shared: dict[str, Any] = Field(default_factory=dict, description="dotted.key: JSON value")

    @field_validator("base")
    @classmethod
    def _base_kind(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, str | dict):
            raise _error("a run spec file (relative to the suite file) or an inline spec object")
        return v

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, v: list[VariantSpec]) -> list[VariantSpec]:
        names = [x.name for x in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise _error(f"variant names must be unique; repeated: {', '.join(twice)}")
        return v

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise _error("seeds must be unique")
        return v


def _reserved(prefix: str, overrides: dict[str, Any]) -> list[str]:
    """Keys the suite sets itself (the run's name, seed and folder) may not be overridden."""
    roots = {k: k.replace("[", ".").split(".")[0] for k in overrides}
    return [
        f"{prefix}.{k}: set by the suite (name: the variant's, seed: from seeds, out: --out)"
        for k, root in roots.items()
        if root in RESERVED
    ]


def _overlaps(a: str, b: str) -> bool:
    """Whether two dotted keys name the same field or one contains the other."""
    a, b = a.replace("[", ".").replace("]", ""), b.replace("[", ".").replace("]", "")
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


# ----------------------------------------------------------------------------- resolving


@dataclass
class PlannedRun:
    """One variant x seed: its folder name and its fully resolved spec (threads unset)."""

    run_id: str
    variant: str
    seed: int
    spec: dict


@dataclass
class Suite:
    spec: SuiteSpec
    path: Path
    runs: list[PlannedRun]


def parse_suite(data: dict) -> SuiteSpec:
    try:
        suite = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        from mtbench.spec import _problems

        raise SpecError(_problems(exc)) from None
    if suite.base is None and any(v.spec is None for v in suite.variants):
        raise SpecError(["base: Field required (unless every variant names its own spec)"])
    return suite


def load_suite(path: str | Path, registry: Registry, only: list[str] | None = None) -> Suite:
    """Read a suite file and resolve every selected variant; all problems in one SpecError."""
    from mtbench import spec as S

    path = Path(path)
    suite = parse_suite(S.read_json(path, "suite"))
    chosen = _select(suite, only)
    problems: list[str] = []
    runs: list[PlannedRun] = []
    for i, variant in chosen:
        resolved = _resolve_variant(suite, i, variant, path.parent, registry, problems)
        if resolved is None:
            continue
        for seed in suite.seeds:
            spec = json.loads(json.dumps(resolved))
            spec.update(seed=seed, out=None, meta=None)
            spec["log"]["progress"] = False
            runs.append(PlannedRun(f"{variant.name}-s{seed}", variant.name, seed, spec))
    if problems:
        raise SpecError(list(dict.fromkeys(problems)))
    return Suite(suite, path, runs)


def _select(suite: SuiteSpec, only: list[str] | None) -> list[tuple[int, VariantSpec]]:
    names = [v.name for v in suite.variants]
    unknown = [n for n in only or [] if n not in names]
    if unknown:
        raise UserError(
            f"--only: no variant {', '.join(map(repr, unknown))} in suite {suite.name!r}; "
            f"its variants: {', '.join(names)}"
        )
    return [(i, v) for i, v in enumerate(suite.variants) if not only or v.name in only]


def _resolve_variant(
    suite: SuiteSpec,
    i: int,
    variant: VariantSpec,
    folder: Path,
    registry: Registry,
    problems: list[str],
) -> dict | None:
    """The variant's resolved spec JSON, or None with its problems appended."""
    from mtbench import spec as S

    where = f"variants[{i}]"
    bad = _reserved("shared", suite.shared) + _reserved(f"{where}.set", variant.overrides)
    bad += [
        f"{where}.set.{k}: also set by shared (the protocol of every variant)"
        for k in variant.overrides
        if any(_overlaps(k, s) for s in suite.shared)
    ]
    if bad:
        problems += bad
        return None
    try:
        data = _start_from(suite, variant, folder, where)
    except UserError as exc:
        problems += exc.lines()
        return None
    for prefix, overrides in (("shared", suite.shared), (f"{where}.set", variant.overrides)):
        for key, value in overrides.items():
            try:
                data = S.apply_overrides(data, [f"{key}={json.dumps(value)}"])
            except UserError as exc:
                problems.append(f"{prefix}.{key}: {str(exc).split(': ', 1)[-1]}")
                return None
    data.update(name=variant.name, seed=suite.seeds[0])
    try:
        return S.resolve(data, registry).to_json()
    except UserError as exc:
        problems += [_locate(line, suite, variant, where) for line in exc.lines()]
        return None


def _start_from(suite: SuiteSpec, variant: VariantSpec, folder: Path, where: str) -> dict:
    """The variant's starting spec: its own file, else the base (file or inline)."""
    from mtbench import spec as S

    if variant.spec is not None:
        source, what = variant.spec, f"{where}.spec"
    else:
        source, what = suite.base, "base"
    if isinstance(source, dict):
        data = json.loads(json.dumps(source))
    else:
        file = folder / source
        if not file.is_file():
            raise UserError(f"{what}: no such run spec file: {file}")
        data = S.read_json(file)
    for key in ("out", "meta"):
        data.pop(key, None)
    return data


def _locate(line: str, suite: SuiteSpec, variant: VariantSpec, where: str) -> str:
    """Point a resolved-spec problem at the override that caused it, else at the variant."""
    path, sep, msg = line.partition(": ")
    if not sep:
        return f"{where}: {line}"
    for key in variant.overrides:
        if _overlaps(path, key):
            return f"{where}.set.{path}: {msg}"
    for key in suite.shared:
        if _overlaps(path, key):
            return f"shared.{path}: {msg}"
    return f"{where} ({variant.name}): {path}: {msg}"


# ----------------------------------------------------------------------------- run folders


def try_lock(path: Path) -> int | None:
    """An exclusive, non-blocking flock on ``path``; its fd, or None if another holds it.

    The kernel drops the lock when every holder has exited, so a killed bench leaves no
    stale lock; the run process inherits the fd, so the lock outlives a killed bench for as
    long as its run still trains.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


@contextmanager
def tables_lock(out: Path) -> Iterator[None]:
    """Serialize table regeneration, so the last writer is also the last reader."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / TABLES_LOCK, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read_summary(rd: RunDir) -> dict | None:
    try:
        return json.loads(rd.summary.read_text())
    except (OSError, ValueError):
        return None


def decide(rd: RunDir, planned_steps: int, since: float | None = None) -> str:
    """``skip`` a finished run (or one that failed after ``since``, in a concurrent bench),
    ``resume`` one with a checkpoint, else ``start`` (a failed run is retried). A folder
    without spec.json holds no finished run, whatever else it holds (its folder was removed)."""
    has_spec = rd.spec.is_file()
    s = read_summary(rd) if has_spec else None
    if s is not None and s.get("status") == "diverged":
        return "skip"  # deterministic: a retry would diverge again
    if s is not None and s.get("status") == "done" and s.get("steps", 0) >= planned_steps:
        return "skip"
    error = rd.root / ERROR_FILE
    if since is not None and error.exists() and error.stat().st_mtime >= since:
        return "skip"
    return "resume" if has_spec and rd.last.exists() else "start"


def _threads(planned: PlannedRun, rd: RunDir, jobs: int) -> int | None:
    """The spec's threads; else, on resume, the ones the run started with (the spec hash
    includes them); else 1 when several runs share the machine."""
    t = planned.spec["train"].get("threads")
    if t is not None:
        return t
    if rd.spec.exists():
        try:
            return json.loads(rd.spec.read_text())["train"].get("threads")
        except (OSError, ValueError, KeyError):
            pass
    return 1 if jobs > 1 else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read_bench(rd: RunDir) -> dict:
    try:
        return json.loads((rd.root / BENCH_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _clear_for(rd: RunDir, mode: str) -> None:
    """Drop what a new attempt replaces: the old outcome, and on a fresh start old tables."""
    stale = [rd.summary, rd.root / ERROR_FILE]
    if mode == "start":
        stale += [rd.steps, rd.evals]
    if mode == "start" and not rd.spec.is_file():  # checkpoints of no known spec: unusable
        stale += [rd.last, rd.best]
    for p in stale:
        p.unlink(missing_ok=True)


@dataclass
class Active:
    """A run process and what the bench must do when it ends."""

    planned: PlannedRun
    rd: RunDir
    proc: subprocess.Popen
    lock: int
    mode: str
    t0: float
    info: dict


def launch(suite: str, planned: PlannedRun, rd: RunDir, mode: str, jobs: int, lock: int) -> Active:
    """Start ``python -m mtbench run`` for one run, holding the run's lock fd."""
    _clear_for(rd, mode)
    spec = json.loads(json.dumps(planned.spec))
    threads = _threads(planned, rd, jobs)
    spec["train"]["threads"] = threads
    spec_file = rd.root / RUN_SPEC
    write_json(spec_file, spec)
    cmd = [sys.executable, "-m", "mtbench", "run", str(spec_file), "--out", str(rd.root)]
    if mode == "resume":
        cmd.append("--resume")
    env = dict(os.environ, **{contention.JOBS_ENV: str(jobs)})
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with open(rd.file(RunDir.STDOUT), "wb") as out, open(rd.file(RunDir.STDERR), "wb") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, pass_fds=(lock,))
    info = read_bench(rd) or {"suite": suite, "variant": planned.variant, "seed": planned.seed}
    info.setdefault("attempts", []).append(
        {"mode": mode, "started": _now(), "pid": proc.pid, "returncode": None, "wall_s": None}
    )
    write_json(rd.root / BENCH_FILE, info)
    return Active(planned, rd, proc, lock, mode, time.perf_counter(), info)


def finish(a: Active) -> str:
    """Record how a run process ended; returns done, diverged, interrupted or failed."""
    rc = a.proc.returncode
    a.info["attempts"][-1].update(returncode=rc, wall_s=time.perf_counter() - a.t0)
    write_json(a.rd.root / BENCH_FILE, a.info)
    s = read_summary(a.rd)
    status = s.get("status") if s else None
    if status in ("done", "diverged", "interrupted") and rc in (0, 1, 130):
        return status
    if rc in STOPPED:  # Ctrl-C or SIGTERM before the run could checkpoint: not its fault
        return "interrupted"
    tail = _tail(a.rd.file(RunDir.STDERR), ERROR_TAIL)
    atomic_write_bytes(
        a.rd.root / ERROR_FILE,
        f"{a.planned.run_id}: the run process exited with code {rc}\n{tail}".encode(),
    )
    return "failed"


def _tail(path: Path, n: int) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:]) + "\n"


def plan_actions(suite: Suite, out: str | Path) -> list[tuple[str, str]]:
    """What a bench would do with each run now (skip, resume, start), without locking."""
    return [
        (p.run_id, decide(RunDir(Path(out) / p.run_id), p.spec["train"]["steps"]))
        for p in suite.runs
    ]


# ----------------------------------------------------------------------------- the runner


@dataclass
class BenchResult:
    out: Path
    counts: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False

    def add(self, status: str) -> None:
        self.counts[status] = self.counts.get(status, 0) + 1


class _Stop(Exception):
    """SIGTERM: stop launching, let running runs checkpoint, write tables."""


def run_suite(
    suite: Suite,
    out: str | Path,
    jobs: int = 1,
    progress: bool = True,
    poll_s: float = 0.2,
) -> BenchResult:
    """Run every planned run not yet finished, ``jobs`` at a time; write the suite tables."""
    from tqdm import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    result = BenchResult(out)
    since = time.time()
    session = _session_start(out, suite, jobs)
    pending = list(suite.runs)
    active: list[Active] = []
    bar = tqdm(total=len(pending), unit="run", desc=suite.spec.name, disable=not progress)
    old = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        with bar:
            _loop(suite, out, jobs, since, pending, active, result, bar, poll_s)
    except (KeyboardInterrupt, _Stop) as exc:
        result.interrupted = True
        _stop_all(active, result, forward=isinstance(exc, _Stop))
    finally:
        signal.signal(signal.SIGTERM, old)
        write_suite_tables(out, session)
    return result


def _raise_stop(signum, frame) -> None:
    raise _Stop


def _loop(suite, out, jobs, since, pending, active, result, bar, poll_s) -> None:
    while pending or active:
        while pending and len(active) < jobs:
            planned = pending.pop(0)
            a = _claim_and_launch(suite, out, planned, jobs, since, result, bar)
            if a is not None:
                active.append(a)
                _show(bar, active)
        time.sleep(poll_s if active else 0)
        for a in [a for a in active if a.proc.poll() is not None]:
            active.remove(a)
            status = _close(a, result)
            bar.update(1)
            _show(bar, active)
            _report(bar, a, status)
            write_suite_tables(out)


def _claim_and_launch(suite, out, planned, jobs, since, result, bar) -> Active | None:
    rd = RunDir(out / planned.run_id)
    lock = try_lock(rd.root / LOCK)
    if lock is None:
        result.add("elsewhere")
        bar.update(1)
        bar.write(f"{planned.run_id}: being run by another process; skipped")
        return None
    mode = decide(rd, planned.spec["train"]["steps"], since)
    if mode == "skip":
        unlock(lock)
        result.add("skipped")
        bar.update(1)
        return None
    try:
        return launch(suite.spec.name, planned, rd, mode, jobs, lock)
    except BaseException:
        unlock(lock)
        raise


def _close(a: Active, result: BenchResult) -> str:
    try:
        status = finish(a)
    finally:
        unlock(a.lock)
    result.add(status)
    return status


def _show(bar, active: list[Active]) -> None:
    bar.set_postfix_str("running: " + ", ".join(a.planned.run_id for a in active))


def _report(bar, a: Active, status: str) -> None:
    wall = time.perf_counter() - a.t0
    line = f"{a.planned.run_id}: {status} ({a.mode}, {wall:.0f} s)"
    if status in ("failed", "diverged"):
        detail = _last_line(a.rd)
        line += f": {detail}" if detail else ""
    bar.write(line)


def _last_line(rd: RunDir) -> str:
    s = read_summary(rd)
    if s and s.get("error"):
        return str(s["error"])
    lines = [ln for ln in _tail(rd.file(RunDir.STDERR), ERROR_TAIL).splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _stop_all(active: list[Active], result: BenchResult, forward: bool) -> None:
    """Let running runs stop after their step and checkpoint; a second Ctrl-C kills them.

    Ctrl-C in a terminal reaches the runs already (same process group); a SIGTERM to the
    bench alone is forwarded. Runs still alive after a grace period get one SIGINT.
    """
    if forward:
        _signal(active, signal.SIGTERM)
    deadline = time.monotonic() + 10
    forwarded = forward
    try:
        while any(a.proc.poll() is None for a in active):
            if not forwarded and time.monotonic() > deadline:
                _signal(active, signal.SIGINT)
                forwarded = True
            time.sleep(0.1)
    except KeyboardInterrupt:
        _signal(active, signal.SIGKILL)
        for a in active:
            a.proc.wait()
    for a in active:
        _close(a, result)
    active.clear()


def _signal(active: list[Active], sig: int) -> None:
    for a in active:
        if a.proc.poll() is None:
            try:
                a.proc.send_signal(sig)
            except ProcessLookupError:
                pass


# ----------------------------------------------------------------------------- tables


SUITE_FILE = SuiteDir.SUITE


def _session_start(out: Path, suite: Suite, jobs: int) -> dict:
    """Record this bench invocation (command, machine) in ``<out>/suite.json``."""
    import torch

    session = {
        "argv": sys.argv,
        "pid": os.getpid(),
        "started": _now(),
        "finished": None,
        "jobs": jobs,
        "runs": [r.run_id for r in suite.runs],
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    with tables_lock(out):
        info = _read_suite_file(out)
        info.update(name=suite.spec.name, suite_file=str(suite.path))
        info["spec"] = suite.spec.model_dump(mode="json", by_alias=True)
        info.setdefault("sessions", []).append(session)
        write_json(out / SUITE_FILE, info)
    return session


def _read_suite_file(out: Path) -> dict:
    try:
        return json.loads((out / SUITE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def write_suite_tables(out: Path, session: dict | None = None) -> None:
    """Regenerate ``<out>``'s tables, leaderboard, README and sample grids from its run folders
    (atomic writes), as ``mtbench report --out`` would (``mtbench.report.publish``)."""
    from mtbench import results
    from mtbench.report import publish

    with tables_lock(out):
        if session is not None:
            info = _read_suite_file(out)
            for s in info.get("sessions", []):
                if (s.get("pid"), s.get("started")) == (session["pid"], session["started"]):
                    s["finished"] = _now()
            write_json(out / SUITE_FILE, info)
        tables = results.read_runs([out])
        title = _read_suite_file(out).get("name") or out.name
        publish(tables, out, [str(out)], None, title)
