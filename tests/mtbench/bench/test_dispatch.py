"""Suites: validation before anything runs, resuming after SIGKILL, two benches on one folder.

A bench tells each run how many ran beside it, and publishes its folder the way
``mtbench report --out`` does (one publish).
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import bench_in_child, tiny_spec

from mtbench import lease
from mtbench.bench import load_suite, run_suite
from mtbench.cli import main
from mtbench.errors import SpecError


def write_suite(path: Path, **over) -> Path:
    base = tiny_spec()
    base["train"]["steps"] = 4
    suite = {"name": "t", "base": base, "variants": [{"name": "a"}], "seeds": [0]} | over
    path.write_text(json.dumps(suite))
    return path


@pytest.mark.parametrize(
    "over, problem",
    [
        (
            {"variants": [{"name": "a"}, {"name": "b", "set": {"train.stepz": 5}}]},
            "variants[1].set.train.stepz: Extra inputs are not permitted",
        ),
        (
            {"variants": [{"name": "a", "set": {"discriminator.heads[0].type": "nope"}}]},
            "variants[0].set.discriminator.heads[0].type: unknown head 'nope'",
        ),
        ({"variants": [{"name": "a", "sett": {}}]}, "variants[0].sett: Extra inputs"),
        ({"seedz": [1]}, "seedz: Extra inputs are not permitted"),
        ({"seeds": []}, "seeds: List should have at least 1 item"),
        ({"seeds": [0, 0]}, "seeds: seeds must be unique"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, "variants: variant names must be unique"),
        ({"base": None}, "base: Field required (unless every variant names its own spec)"),
        ({"base": "missing.json"}, "base: no such run spec file"),
        ({"variants": [{"name": "a", "set": {"seed": 3}}]}, "variants[0].set.seed: set by the"),
        (
            {"shared": {"train.steps": 2}, "variants": [{"name": "a", "set": {"train.steps": 3}}]},
            "variants[0].set.train.steps: also set by shared",
        ),
        ({"shared": {"train.batch_size": 0}}, "shared.train.batch_size: Input should be greater"),
    ],
)
def test_suite_problems_are_reported_with_their_path_before_anything_runs(
    tmp_path, capsys, over, problem
):
    path = write_suite(tmp_path / "suite.json", **over)
    out = tmp_path / "out"
    assert main(["bench", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert problem in err, err
    assert not out.exists()


def test_every_problem_of_every_variant_at_once(tmp_path, registry):
    variants = [
        {"name": "ok"},
        {"name": "b", "set": {"train.stepz": 5}},
        {"name": "c", "set": {"log.every": 0}},
        {"name": "d", "spec": "nope.json"},
    ]
    path = write_suite(tmp_path / "suite.json", variants=variants, seeds=[0, 1])
    with pytest.raises(SpecError) as exc:
        load_suite(path, registry)
    assert [p.split(":")[0] for p in exc.value.problems] == [
        "variants[1].set.train.stepz",
        "variants[2].set.log.every",
        "variants[3].spec",
    ]
    suite = load_suite(path, registry, only=["ok"])
    assert [r.run_id for r in suite.runs] == ["ok-s0", "ok-s1"]
    assert [r.spec["seed"] for r in suite.runs] == [0, 1]
    assert all(r.spec["name"] == "ok" and r.spec["train"]["steps"] == 4 for r in suite.runs)


def test_variant_spec_files_and_shared_overrides(tmp_path, registry):
    full = tiny_spec(name="whatever")
    full["discriminator"]["heads"] = [{"type": "projection"}]
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "proj.json").write_text(json.dumps(full))
    path = write_suite(
        tmp_path / "suite.json",
        variants=[
            {"name": "a", "set": {"train.batch_size": 4}},
            {"name": "p", "spec": "specs/proj.json"},
        ],
        shared={"train.steps": 3, "eval": {"metrics": []}},
    )
    runs = {r.variant: r.spec for r in load_suite(path, registry).runs}
    assert runs["a"]["train"]["batch_size"] == 4 and runs["p"]["train"]["batch_size"] == 8
    assert runs["p"]["discriminator"]["heads"][0]["type"] == "projection"
    assert runs["a"]["train"]["steps"] == runs["p"]["train"]["steps"] == 3
    assert runs["p"]["name"] == "p" and runs["p"]["log"]["progress"] is False


# ----------------------------------------------------------------------------- running


def _attempts(run: Path) -> list[str]:
    return [a["mode"] for a in json.loads((run / "bench.json").read_text())["attempts"]]


def _wait_for(cond, proc, what: str, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not cond():
        assert proc.is_alive(), f"the bench ended before {what}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _wait_unlocked(lock: Path, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while lease.alive(lock):
        assert time.time() < deadline, f"{lock} stayed held"
        time.sleep(0.01)


@pytest.mark.slow
def test_bench_killed_mid_suite_resumes_without_redoing_finished_runs(tmp_path, registry):
    long = {"train.steps": 120, "log.every": 5, "log.checkpoint_every": 5}
    variants = [{"name": "a"}, {"name": "b", "set": long}, {"name": "c"}]
    path = write_suite(tmp_path / "suite.json", variants=variants)
    out = tmp_path / "out"
    bench = bench_in_child(["bench", str(path), "--out", str(out), "--jobs", "1"])
    _wait_for((out / "b-s0" / "checkpoints" / "last.pt").exists, bench, "b's first checkpoint")
    os.killpg(bench.pid, signal.SIGKILL)  # the bench and its run process
    bench.join()
    _wait_unlocked(out / "b-s0" / ".lock")  # the killed run process is gone
    assert (out / "a-s0" / "summary.json").exists()
    assert not (out / "b-s0" / "summary.json").exists(), "b finished before the kill"
    assert not (out / "c-s0" / "bench.json").exists()  # queued (job.json), never started
    a_files = {p: p.stat().st_mtime_ns for p in (out / "a-s0").rglob("*") if p.is_file()}

    result = run_suite(load_suite(path, registry), out, jobs=2, progress=False)
    assert result.counts == {"skipped": 1, "done": 2}
    assert {p: p.stat().st_mtime_ns for p in a_files} == a_files  # a was not touched
    assert _attempts(out / "a-s0") == ["start"]
    assert _attempts(out / "b-s0") == ["start", "resume"]
    assert _attempts(out / "c-s0") == ["start"]

    runs = pd.read_parquet(out / "runs.parquet")
    assert sorted(runs["run_id"]) == ["a-s0", "b-s0", "c-s0"]
    assert (runs["status"] == "done").all()
    steps = pd.read_parquet(out / "steps.parquet")
    assert not steps.duplicated(["run_id", "step"]).any()
    assert steps.loc[steps["run_id"] == "b-s0", "step"].tolist() == list(range(5, 121, 5))
    assert steps.groupby("run_id").size().to_dict() == {"a-s0": 2, "b-s0": 24, "c-s0": 2}
    assert (out / "leaderboard.md").read_text().count("| a | adversarial+aux_classifier |") == 1

    again = run_suite(load_suite(path, registry), out, jobs=2, progress=False)
    assert again.counts == {"skipped": 3}


@pytest.mark.slow
def test_two_benches_on_one_folder_repeat_nothing_lose_nothing_and_record_failures(tmp_path):
    variants = [{"name": "a"}, {"name": "bad", "set": {"train.precision": "fp16"}}, {"name": "c"}]
    path = write_suite(tmp_path / "suite.json", variants=variants)
    out = tmp_path / "out"
    benches = [
        bench_in_child(["bench", str(path), "--out", str(out), "--jobs", "1"]) for _ in range(2)
    ]
    for b in benches:
        b.join(timeout=300)
    assert sorted(b.exitcode for b in benches) in ([0, 1], [1, 1])  # 1: a run failed
    ids = ["a-s0", "bad-s0", "c-s0"]
    for run_id in ids:
        assert _attempts(out / run_id) == ["start"], run_id  # run once, by one of the two
    error = (out / "bad-s0" / "error.txt").read_text()
    assert "exited with code 2" in error and "fp16 needs CUDA" in error
    runs = pd.read_parquet(out / "runs.parquet").set_index("run_id")
    assert sorted(runs.index) == ids
    assert runs["status"].to_dict() == {"a-s0": "done", "bad-s0": "failed", "c-s0": "done"}
    assert "fp16 needs CUDA" in runs.loc["bad-s0", "error"]
    steps = pd.read_parquet(out / "steps.parquet")
    assert len(steps) == 4 and not steps.duplicated(["run_id", "step"]).any()
    assert "- bad-s0: failed" in (out / "leaderboard.md").read_text()
    sessions = json.loads((out / "suite.json").read_text())["sessions"]
    assert len(sessions) == 2 and all(s["finished"] for s in sessions)


@pytest.mark.slow
def test_bench_records_jobs_and_publishes_like_report_out(tmp_path):
    base = tiny_spec()
    base["train"]["steps"] = 4
    suite = {"name": "t", "base": base, "variants": [{"name": "a"}, {"name": "b"}], "seeds": [0]}
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    out = tmp_path / "out"
    assert main(["bench", str(tmp_path / "suite.json"), "--out", str(out), "--jobs", "2"]) == 0
    for run in ("a-s0", "b-s0"):
        (record,) = json.loads((out / run / "spec.json").read_text())["meta"]["contention"]
        assert record["jobs"] == 2
    runs = pd.read_parquet(out / "runs.parquet")
    assert runs["contended"].tolist() == [True, True] and (runs["jobs"] == 2).all()
    board = (out / "leaderboard.md").read_text()
    assert "† img/s, wall time and step times measured under contention" in board

    pub = tmp_path / "pub"
    assert main(["report", str(out), "--out", str(pub)]) == 0
    assert (pub / "leaderboard.md").read_text() == board
    assert {p.name for p in (out / "samples").iterdir()} == {"a.png", "b.png"}
    assert {p.name for p in (pub / "samples").iterdir()} == {"a.png", "b.png"}
    for folder in (out, pub):
        readme = (folder / "README.md").read_text()
        assert "Every file in this folder was written by mtbench." in readme
        assert "Runs: 2 (2 done)" in readme
