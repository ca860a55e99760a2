"""``mtbench bench --status`` reads every run's state from its folder; ``--cancel`` stops
queued runs from starting and running ones after their step (they checkpoint first)."""

from __future__ import annotations

import json
import time

import pytest
from helpers import bench_in_child, tiny_spec

from mtbench import lease
from mtbench.bench import folders, load_suite
from mtbench.bench.task import RunTask, execute
from mtbench.cli import main
from mtbench.layout import RunDir


def _suite(tmp_path, steps: int = 4, seeds=(0, 1, 2, 3, 4)):
    base = tiny_spec()
    base["train"]["steps"] = steps
    suite = {"name": "st", "base": base, "variants": [{"name": "a"}], "seeds": list(seeds)}
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(suite))
    return path


def _status(capsys, path, out) -> dict[str, str]:
    assert main(["bench", str(path), "--out", str(out), "--status"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    return {ln.split()[0]: ln.split()[1] for ln in lines[1:-1]} | {"counts": lines[-1]}


def test_status_reads_each_state_from_the_folder(tmp_path, capsys):
    path = _suite(tmp_path, seeds=(0,))
    out = tmp_path / "out"
    assert main(["bench", str(path), "--out", str(out)]) == 0  # a-s0: done
    path = _suite(tmp_path)
    dirs = {s: RunDir(out / f"a-s{s}") for s in range(1, 5)}
    for rd in dirs.values():
        rd.root.mkdir()
    held = lease.claim(folders.lease_path(dirs[1]))  # a-s1: running
    folders.record_job(dirs[2], "slurm", "123")  # a-s2: queued
    dirs[3].file(RunDir.ERROR).write_text("boom")  # a-s3: failed
    (dirs[4].root / "checkpoints").mkdir()
    dirs[4].last.write_bytes(b"")  # a-s4: interrupted
    capsys.readouterr()
    states = _status(capsys, path, out)
    held.release()
    assert states == {
        "a-s0": "done",
        "a-s1": "running",
        "a-s2": "queued",
        "a-s3": "failed",
        "a-s4": "interrupted",
        "counts": "1 done, 1 running, 1 queued, 1 interrupted, 1 failed",
    }


def test_a_cancelled_queued_run_never_starts(tmp_path, capsys, registry):
    path = _suite(tmp_path, seeds=(0,))
    out = tmp_path / "out"
    folders.record_job(RunDir(out / "a-s0"), "local", "local-0")
    assert main(["bench", str(path), "--out", str(out), "--cancel"]) == 0
    (planned,) = load_suite(path, registry).runs
    task = RunTask("a-s0", str(out / "a-s0"), "st", "a", 0, planned.spec, 1, time.time())
    assert execute(task) == "cancelled"
    assert not (out / "a-s0" / "spec.json").exists()
    assert _status(capsys, path, out)["a-s0"] == "cancelled"


@pytest.mark.slow
def test_cancel_stops_a_running_run_after_its_checkpoint_and_a_new_bench_resumes(tmp_path):
    path = _suite(tmp_path, steps=200, seeds=(0,))
    spec = json.loads(path.read_text())
    spec["base"]["log"] |= {"every": 5, "checkpoint_every": 5}
    path.write_text(json.dumps(spec))
    out = tmp_path / "out"
    bench = bench_in_child(["bench", str(path), "--out", str(out)])
    deadline = time.time() + 120
    while not (out / "a-s0" / "checkpoints" / "last.pt").exists():
        assert time.time() < deadline and bench.is_alive()
        time.sleep(0.05)
    assert main(["bench", str(path), "--out", str(out), "--cancel"]) == 0
    bench.join(timeout=120)
    assert bench.exitcode == 0
    summary = json.loads((out / "a-s0" / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["steps"] < 200
    spec["base"]["train"]["steps"] = summary["steps"] + 5
    path.write_text(json.dumps(spec))
    assert main(["bench", str(path), "--out", str(out)]) == 0
    modes = [a["mode"] for a in json.loads((out / "a-s0" / "bench.json").read_text())["attempts"]]
    assert modes == ["start", "resume"]
