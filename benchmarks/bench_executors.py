"""Executor overhead per run: a 2-variant x 2-seed suite of tiny 100-step runs through each
executor, its wall time against the sum of the runs' own wall times (``summary.json``).

    python benchmarks/bench_executors.py [--steps 100] [--jobs 1] [--ray]

With ``--jobs 1`` runs go one at a time, so (suite wall - sum of run walls) / runs is what the
executor adds per run: process start, imports, submission, polling and table publishing.
``slurm`` runs through submitit's ``local`` stand-in (real job processes, as on a node).
``--ray`` also starts a local Ray instance (it listens on every interface: off by default).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))
from helpers import tiny_spec  # noqa: E402

EXECUTORS = {
    "local": [],
    "slurm": ["--executor", "slurm", "--set", "executor.cluster=local"],
    "ray": ["--executor", "ray"],
}


def write_suite(folder: Path, steps: int) -> Path:
    base = tiny_spec()
    base["train"]["steps"] = steps
    base["log"] |= {"every": 50, "checkpoint_every": steps, "sample_every": steps}
    variants = [{"name": "a"}, {"name": "b", "set": {"train.batch_size": 4}}]
    suite = {"name": "overhead", "base": base, "variants": variants, "seeds": [0, 1]}
    path = folder / "suite.json"
    path.write_text(json.dumps(suite))
    return path


def measure(suite: Path, out: Path, executor: str, jobs: int) -> dict:
    cmd = [sys.executable, "-m", "mtbench", "bench", str(suite), "--out", str(out)]
    cmd += ["--jobs", str(jobs), *EXECUTORS[executor]]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    runs = [json.loads(p.read_text())["wall_s"] for p in out.glob("*/summary.json")]
    overhead = (wall * jobs - sum(runs)) / len(runs)
    return {"executor": executor, "suite_s": wall, "runs_s": sum(runs), "per_run_s": overhead}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--ray", action="store_true", help="also through a local Ray instance")
    args = ap.parse_args()
    names = ["local", "slurm"] + (["ray"] if args.ray else [])
    with tempfile.TemporaryDirectory() as tmp:
        suite = write_suite(Path(tmp), args.steps)
        for name in names:
            r = measure(suite, Path(tmp) / name, name, args.jobs)
            print(
                f"{r['executor']:<6} suite {r['suite_s']:6.1f} s, runs {r['runs_s']:6.1f} s, "
                f"overhead {r['per_run_s']:5.2f} s per run (jobs {args.jobs})"
            )


if __name__ == "__main__":
    main()
