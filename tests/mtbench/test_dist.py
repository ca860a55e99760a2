"""One run on many processes (mtbench/dist.py and the loop under torchrun): 2 gloo ranks on the
CPU. Every process and launch has a timeout, so a hang fails the test instead of the suite."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp
from dist_workers import build, equivalence_worker, feed_fixed, state_of
from helpers import tiny_spec, write_spec

from mtbench.cli import main
from mtbench.dist import Dist, rank_seed
from mtbench.errors import UserError
from mtbench.io import load_torch

LAUNCH_TIMEOUT = 120  # seconds any one launch may take on 2 busy cores
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MTBENCH_DIST_TIMEOUT": "30"}


def torchrun(*args: str, n: int = 2) -> list[str]:
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={n}", "-m", "mtbench", *args,
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


STEPS = 100


def long_spec(out: Path) -> dict:
    s = tiny_spec(out=str(out), eval={"metrics": [], "batch_size": 32})
    s["train"].update(steps=STEPS, batch_size=8)
    s["log"].update(every=10, checkpoint_every=20, sample_every=1000)
    return s


# ----------------------------------------------------------------------------- pure parts


def test_one_process_is_world_size_one_and_keeps_the_spec_seed():
    d = Dist.from_env({})
    assert (d.rank, d.world_size, d.is_main()) == (0, 1, True)
    assert rank_seed(7, 0) == 7 and rank_seed(7, 1) != rank_seed(7, 0)
    assert [Dist(r, 3).share(10) for r in range(3)] == [(0, 4), (4, 3), (7, 3)]
    x = torch.ones(3)
    assert d.mean_([x]) == 0.0 and d.gather(x) is x and d.all_objects(5) == [5]


# ----------------------------------------------------------------------------- equivalence

CASES = {
    "plain": {},
    "sn_ensemble_fused": {"heads": "ensemble", "fused": True},
    "sn_ensemble_looped": {"heads": "ensemble", "fused": False},
    "uncertainty": {"weighting": {"type": "uncertainty"}},
    "gradnorm": {"weighting": {"type": "gradnorm"}},
}


def case_spec(case: dict) -> dict:
    s = tiny_spec(loss={"type": "ns"})
    if case.get("heads") == "ensemble":
        trunk = {"type": "dcgan", "width": 8, "feature_dim": 32}
        s["discriminator"]["heads"] = [
            {"type": "ensemble", "k": 2, "fused": case["fused"], "trunk": trunk,
             "spectral_norm": True, "aggregator": "dropout"},
            {"type": "aux_classifier"},
        ]  # fmt: skip
        s["discriminator"]["trunk"]["spectral_norm"] = True
    if "weighting" in case:
        s["weighting"] = case["weighting"]
    return s


@pytest.fixture(scope="module")
def two_rank_steps(tmp_path_factory):
    """Each case: one fixed step and two free steps on 2 spawned gloo ranks."""
    out = tmp_path_factory.mktemp("ranks")
    specs = {name: case_spec(c) for name, c in CASES.items()}
    ctx = mp.get_context("spawn")
    procs = [
        ctx.Process(target=equivalence_worker, args=(r, 2, free_port_once(), specs, str(out)))
        for r in range(2)
    ]
    for p in procs:
        p.start()
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    for p in procs:
        p.join(max(1.0, deadline - time.monotonic()))
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
    assert not alive, "a rank hung past the timeout"
    assert [p.exitcode for p in procs] == [0, 0]
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(2)]


_PORT: list[int] = []


def free_port_once() -> int:
    """One rendezvous port for both ranks of the fixture."""
    if not _PORT:
        _PORT.append(free_port())
    return _PORT[0]


@pytest.mark.parametrize("case", list(CASES))
def test_two_ranks_with_half_batches_step_like_one_rank_with_the_whole(
    case, two_rank_steps, registry
):
    t = build(case_spec(CASES[case]), registry)
    before = state_of(t)
    feed_fixed(t)
    t.train_step(False)
    want, got = state_of(t), two_rank_steps[0][case]["fixed"]
    moved = [k for k in want if not torch.equal(want[k], before[k])]
    assert moved, "the step changed nothing: the comparison would prove nothing"
    for name in want:
        torch.testing.assert_close(got[name], want[name], atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.parametrize("case", list(CASES))
def test_ranks_hold_bit_identical_state_after_every_step(case, two_rank_steps):
    h0, h1 = (two_rank_steps[r][case]["hashes"] for r in range(2))
    assert h0 == h1
    assert len(set(h0)) == len(h0)  # every step changed the state


# ----------------------------------------------------------------------------- torchrun


def launch(args: list[str], cwd: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=cwd, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(p: subprocess.Popen, timeout: float = LAUNCH_TIMEOUT) -> tuple[int, str]:
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail("the job did not end within the timeout")
    return p.returncode, out + err


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A 2-rank run through torchrun, start to end: the reference of the resume tests."""
    root = tmp_path_factory.mktemp("full")
    spec = write_spec(root / "spec.json", long_spec(root / "run"))
    code, text = finish(launch(torchrun("run", str(spec)), root))
    assert code == 0, text[-3000:]
    return root / "run", text


def test_torchrun_writes_one_run_folder_with_one_row_per_logged_step(uninterrupted):
    run, text = uninterrupted
    assert sorted(p.name for p in run.parent.iterdir()) == ["run", "spec.json"]
    steps = pd.read_parquet(run / "steps.parquet")
    assert steps["step"].tolist() == list(range(10, STEPS + 1, 10))
    assert (steps["t_comm"] > 0).all()
    meta = json.loads((run / "spec.json").read_text())["meta"]
    assert meta["world_size"] == 2
    assert text.count(f"done: {STEPS} steps") == 1  # rank 0 alone reports


def _final_weights(run: Path) -> dict:
    return load_torch(run / "checkpoints" / "last.pt")["generator"]


def _same_weights(a: Path, b: Path) -> None:
    wa, wb = _final_weights(a), _final_weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def _checkpoint_step(run: Path) -> int:
    try:
        return int(load_torch(run / "checkpoints" / "last.pt")["step"])
    except (OSError, RuntimeError, KeyError, UserError):  # not written yet
        return -1


def _wait_for_checkpoint_after(run: Path, step: int, p: subprocess.Popen) -> None:
    deadline = time.monotonic() + LAUNCH_TIMEOUT
    while _checkpoint_step(run) <= step:
        assert p.poll() is None, finish(p)[1][-2000:]
        assert time.monotonic() < deadline, "no new checkpoint"
        time.sleep(0.05)


def test_sigterm_then_a_killed_rank_then_resume_finishes_bit_identical(tmp_path, uninterrupted):
    """SIGTERM: every rank stops after the same step, rank 0 checkpoints, the message names the
    torchrun command; SIGKILL of one rank: the job ends within a timeout; --resume after each
    finishes with the weights of the uninterrupted run."""
    run = tmp_path / "run"
    spec = write_spec(tmp_path / "spec.json", long_spec(run))
    p = launch(torchrun("run", str(spec)), tmp_path)
    _wait_for_checkpoint_after(run, 0, p)
    p.send_signal(signal.SIGTERM)
    code, text = finish(p)
    stopped = _checkpoint_step(run)
    state = load_torch(run / "checkpoints" / "last.pt")
    assert state["world_size"] == 2 and len(state["rng_ranks"]) == 2
    assert stopped < STEPS, "the run ended before the signal: make it longer"
    assert code != 0 and f"interrupted at step {stopped}" in text
    assert "torchrun --nproc_per_node=2 -m mtbench run" in text
    assert pd.read_parquet(run / "steps.parquet")["step"].max() <= stopped

    p = launch(torchrun("run", str(spec), "--resume"), tmp_path)
    _wait_for_checkpoint_after(run, stopped, p)
    workers = Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()
    assert workers, "no rank to kill"
    os.kill(int(workers[-1]), signal.SIGKILL)
    code, _ = finish(p, timeout=60)
    assert code != 0

    code, text = finish(launch(torchrun("run", str(spec), "--resume"), tmp_path))
    assert code == 0, text[-3000:]
    _same_weights(run, uninterrupted[0])
    steps = pd.read_parquet(run / "steps.parquet")["step"].tolist()
    assert steps == list(range(10, STEPS + 1, 10))


def test_resume_on_another_world_size_is_one_line(uninterrupted, capsys):
    spec = uninterrupted[0].parent / "spec.json"
    assert main(["run", str(spec), "--resume", "--steps", str(STEPS + 20)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "meta.world_size" in err and "--nproc_per_node=2" in err


def test_a_batch_that_does_not_divide_is_refused_naming_the_field(tmp_path, monkeypatch, capsys):
    s = long_spec(tmp_path / "run")
    s["train"]["batch_size"] = 7
    spec = write_spec(tmp_path / "spec.json", s)
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it: refused before any rendezvous
    monkeypatch.setenv("RANK", "0")
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train.batch_size: 7") and "does not divide among 2 ranks" in err
    assert len(err.splitlines()) == 1 and not (tmp_path / "run").exists()


def test_two_rank_evaluation_gives_the_fid_of_one_process(uninterrupted, tmp_path, monkeypatch):
    """Each rank generates its share of the samples, rank 0 gathers them: the same FID."""
    run = uninterrupted[0]
    args = ["eval", str(run), "--metrics", "fid", "--n-samples", "100"]  # 4 batches of 32
    monkeypatch.setenv("MTBENCH_CACHE", str(tmp_path / "cache"))
    assert main(args) == 0  # one process, here
    code, text = finish(launch(torchrun(*args), tmp_path, {**ENV, **os.environ}))
    assert code == 0, text[-3000:]
    evals = pd.read_parquet(run / "evals.parquet")
    fid = evals[evals["metric"] == "fid"]["value"].tolist()
    assert len(fid) == 2 and abs(fid[0] - fid[1]) < 1e-3
    assert fid[0] > 0


def test_a_rank_that_cannot_reach_the_rendezvous_says_so_within_the_timeout(
    tmp_path, monkeypatch, capsys
):
    spec = write_spec(tmp_path / "spec.json", long_spec(tmp_path / "run"))
    env = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1"}
    for k, v in {**env, "MASTER_PORT": str(free_port()), "MTBENCH_DIST_TIMEOUT": "3"}.items():
        monkeypatch.setenv(k, v)
    t0 = time.monotonic()
    assert main(["run", str(spec)]) == 2
    assert time.monotonic() - t0 < 30
    err = capsys.readouterr().err.strip()
    assert err.startswith("rank 1 of 2: could not join the process group") and "\n" not in err
    assert not (tmp_path / "run").exists()


def test_sync_batchnorm_on_the_cpu_is_one_line(tmp_path, capsys):
    spec = write_spec(tmp_path / "spec.json", long_spec(tmp_path / "run"))
    assert main(["run", str(spec), "--set", "train.sync_batchnorm=true"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("train.sync_batchnorm: SyncBatchNorm runs only on CUDA")
    assert "\n" not in err and not (tmp_path / "run").exists()
