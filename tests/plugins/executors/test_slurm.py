"""The Slurm executor, through submitit's ``local`` stand-in (real job processes on this
machine): the same suite outcome as the local pool, resumption after the bench is killed, and
one clear line where no Slurm is reachable."""

from __future__ import annotations

import json
import os
import signal
import time

import pandas as pd
import pytest
from helpers import bench_in_child

from mtbench import lease
from mtbench.cli import main

SLURM_HERE = ["--executor", "slurm", "--set", "executor.cluster=local"]


def _bench(suite, out, *extra) -> int:
    return main(["bench", str(suite), "--out", str(out), "--jobs", "2", *extra])


@pytest.mark.slow
def test_slurm_jobs_give_the_same_suite_as_the_local_pool(
    tmp_path, suite_2x2, outcome, local_outcome
):
    assert _bench(suite_2x2, tmp_path / "slurm", *SLURM_HERE) == 0
    runs_l, steps_l = local_outcome
    runs_s, steps_s = outcome(tmp_path / "slurm")
    pd.testing.assert_frame_equal(runs_l, runs_s)
    assert (runs_s["status"] == "done").all() and len(runs_s) == 4
    pd.testing.assert_frame_equal(steps_l, steps_s)
    job = json.loads((tmp_path / "slurm" / "a-s0" / "job.json").read_text())
    attempt = json.loads((tmp_path / "slurm" / "a-s0" / "bench.json").read_text())["attempts"]
    assert job["executor"] == "slurm" and attempt[-1]["job_id"] == job["job_id"]
    assert list((tmp_path / "slurm" / ".executor" / "slurm").iterdir()), "submitit's job files"


@pytest.mark.slow
def test_a_killed_slurm_bench_resumes_without_running_anything_twice(tmp_path, suite_2x2):
    suite = json.loads(suite_2x2.read_text())
    suite["variants"][1]["set"] |= {"train.steps": 60, "log.every": 5, "log.checkpoint_every": 5}
    suite["seeds"] = [0]
    suite_2x2.write_text(json.dumps(suite))
    out = tmp_path / "out"
    bench = bench_in_child(["bench", str(suite_2x2), "--out", str(out), "--jobs", "2", *SLURM_HERE])
    deadline = time.time() + 180
    while not (out / "b-s0" / "checkpoints" / "last.pt").exists():
        assert time.time() < deadline and bench.is_alive()
        time.sleep(0.05)
    os.killpg(bench.pid, signal.SIGKILL)  # the bench; its submitit jobs live in their own groups
    bench.join()
    job = int(json.loads((out / "b-s0" / "job.json").read_text())["job_id"])  # local: a pid
    os.killpg(os.getpgid(job), signal.SIGKILL)  # the job too, as a lost node would
    while lease.alive(out / "b-s0" / ".lock"):
        time.sleep(0.05)
    assert _bench(suite_2x2, out, *SLURM_HERE) == 0
    runs = pd.read_parquet(out / "runs.parquet").set_index("run_id")
    assert runs["status"].to_dict() == {"a-s0": "done", "b-s0": "done"}
    steps = pd.read_parquet(out / "steps.parquet")
    assert not steps.duplicated(["run_id", "step"]).any()
    assert steps.loc[steps["run_id"] == "b-s0", "step"].tolist() == list(range(5, 61, 5))
    for run in ("a-s0", "b-s0"):
        modes = [a["mode"] for a in json.loads((out / run / "bench.json").read_text())["attempts"]]
        assert modes.count("start") == 1, (run, modes)  # never trained from scratch twice
    assert [
        a["mode"] for a in json.loads((out / "b-s0" / "bench.json").read_text())["attempts"]
    ] == ["start", "resume"]


def test_no_slurm_here_is_one_line_before_anything_starts(tmp_path, suite_2x2, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch
    out = tmp_path / "out"
    assert main(["bench", str(suite_2x2), "--out", str(out), "--executor", "slurm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "executor slurm: no Slurm here (sbatch is not on PATH); run mtbench bench on a Slurm "
        "login node, or use --executor local"
    ]
    assert not out.exists()


def test_an_unanswering_slurm_controller_is_one_line(tmp_path, suite_2x2, capsys, monkeypatch):
    for tool, body in (
        ("sbatch", "exit 0"),
        ("sinfo", "echo 'slurm_load_partitions: Unable to contact slurm controller' >&2; exit 1"),
    ):
        (tmp_path / tool).write_text(f"#!/bin/sh\n{body}\n")
        (tmp_path / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    out = tmp_path / "out"
    assert main(["bench", str(suite_2x2), "--out", str(out), "--executor", "slurm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "executor slurm: the Slurm controller does not answer: slurm_load_partitions: Unable "
        "to contact slurm controller"
    ]
    assert not out.exists()


def test_the_job_parameters_follow_the_options(tmp_path, registry):
    from mtbench.bench.executors import make

    ex = make(
        registry,
        "slurm",
        ["executor.partition=gpu", "executor.gpus_per_run=4", "executor.time_min=30"],
        tmp_path,
        jobs=3,
    )
    p = ex._parameters()
    assert p["slurm_partition"] == "gpu" and p["gpus_per_node"] == 4
    assert p["tasks_per_node"] == 4, "a multi-GPU run is one job of one task per GPU"
    assert p["timeout_min"] == 30 and p["slurm_array_parallelism"] == 3


@pytest.mark.slow
def test_a_two_task_job_runs_one_run_on_two_gloo_ranks(tmp_path, suite_2x2):
    suite = json.loads(suite_2x2.read_text())
    suite["variants"], suite["seeds"] = [{"name": "a"}], [0]
    suite_2x2.write_text(json.dumps(suite))
    out = tmp_path / "out"
    assert _bench(suite_2x2, out, *SLURM_HERE, "--set", "executor.ranks_per_run=2") == 0
    meta = json.loads((out / "a-s0" / "spec.json").read_text())["meta"]
    assert meta["world_size"] == 2
    steps = pd.read_parquet(out / "a-s0" / "steps.parquet")
    assert steps["step"].tolist() == [2, 4], "one row per logged step, written by rank 0 only"
    assert json.loads((out / "a-s0" / "summary.json").read_text())["status"] == "done"
    assert (out / "a-s0" / "ranks" / "stderr.1.txt").exists()  # rank 1 ran beside rank 0
