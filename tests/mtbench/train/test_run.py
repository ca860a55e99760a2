"""evals.parquet keeps which generator (ema/raw) and which checkpoint (live/last/best) apart,
during training and after ``mtbench eval``; a missing best.pt says why it is missing.

End-to-end runs: every first data set, the run folder, resume after SIGKILL, NaN stop, Ctrl-C.

What a run leaves for reports: summary.json keeps training's own final metrics (a resume of
a finished run adds no later ``mtbench eval`` rows), and spec.json records what ran beside it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import registry_with, tiny_spec, write_spec
from PIL import Image

from mtbench import spec
from mtbench.api import HeadPlugin
from mtbench.cli import main
from mtbench.contention import JOBS_ENV
from mtbench.io import load_torch
from mtbench.layout import RunDir
from mtbench.train.checkpoint import save_checkpoint
from mtbench.train.run import run


def _eval_section(tmp_path, **over) -> dict:
    section = {
        "metrics": ["fid"],
        "every": 3,
        "n_samples": 40,
        "raw": True,
        "cache_dir": str(tmp_path / "cache"),
        "domain": {"epochs": 1},
    }
    return {**section, **over}


@pytest.fixture
def run_dir(tmp_path) -> RunDir:
    rd = RunDir(tmp_path / "run")
    s = tiny_spec(out=str(rd.root), eval=_eval_section(tmp_path))
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    return rd


def test_generator_and_checkpoint_are_two_columns_in_training_and_after_eval(run_dir):
    live = pd.read_parquet(run_dir.evals)
    assert set(live["generator"]) == {"ema", "raw"}
    assert set(live["checkpoint"]) == {"live"}
    assert main(["eval", str(run_dir.root), "--checkpoint", "best", "--n", "30"]) == 0
    assert main(["eval", str(run_dir.root), "--n", "30"]) == 0
    evals = pd.read_parquet(run_dir.evals)
    later = evals.iloc[len(live) :]
    assert set(later["generator"]) == {"ema"}  # the sampler a checkpoint holds
    assert sorted(later["checkpoint"].unique()) == ["best", "last"]
    summary = json.loads(run_dir.summary.read_text())
    last_live = live[(live["step"] == 6) & (live["generator"] == "ema")]
    assert summary["metrics"]["fid"] == last_live.set_index("metric")["value"]["fid"]


def test_resume_of_a_finished_run_keeps_its_own_metrics_not_a_later_eval(run_dir, tmp_path):
    before = json.loads(run_dir.summary.read_text())["metrics"]
    assert main(["eval", str(run_dir.root), "--n", "30"]) == 0  # n_fake differs: other values
    spec = tiny_spec(out=str(run_dir.root), eval=_eval_section(tmp_path))
    assert main(["run", str(write_spec(tmp_path / "s.json", spec)), "--resume"]) == 0
    assert json.loads(run_dir.summary.read_text())["metrics"] == before


def test_missing_best_checkpoint_says_the_run_had_no_eval_metric(tmp_path, capsys):
    rd = RunDir(tmp_path / "run")
    s = tiny_spec(out=str(rd.root))  # no eval section: nothing picks a best checkpoint
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    capsys.readouterr()
    assert main(["eval", str(rd.root), "--checkpoint", "best", "--metrics", "fid"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "no eval metric" in err and "--checkpoint last" in err
    assert "choose --checkpoint last or best" not in err


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mtbench", *args], capture_output=True, text=True, **kw
    )


@pytest.mark.parametrize(
    "dataset, size, classes",
    [
        ({"type": "shapes", "size": 16, "n": 400}, 16, 9),
        ({"type": "digits", "size": 16}, 16, 10),
        ({"type": "mnist", "size": 28}, 28, 10),
    ],
    ids=["shapes", "digits", "mnist"],
)
def test_short_run_on_each_dataset_leaves_a_complete_run_folder(
    tmp_path, request, dataset, size, classes
):
    if dataset["type"] == "mnist":
        dataset["root"] = str(request.getfixturevalue("mnist_root"))
    out = tmp_path / "run"
    s = tiny_spec(dataset=dataset, out=str(out))
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0

    resolved = json.loads((out / "spec.json").read_text())
    meta = resolved["meta"]
    assert meta["torch"] == torch.__version__ and meta["mtbench"]
    assert set(meta["plugins"]) >= {
        "dataset/" + dataset["type"],
        "generator/dcgan",
        "head/adversarial",
    }
    assert meta["device"] == "cpu" and resolved["seed"] == 0
    if dataset["type"] == "mnist":
        assert meta["data"]["n_train"] == 8000 and meta["data"]["n_eval"] == 2000

    steps = pd.read_parquet(out / "steps.parquet")
    assert steps["step"].tolist() == [2, 4, 6]
    for col in [
        "t_data",
        "t_d_fwd",
        "t_d_bwd",
        "t_d_opt",
        "t_g_fwd",
        "t_g_bwd",
        "t_g_opt",
        "t_ema",
        "t_total",
        "imgs_per_s",
    ]:
        assert (steps[col] >= 0).all() and col in steps
    assert (steps["t_total"] > 0).all()
    for col in [
        "loss/d/adversarial/adv",
        "loss/d/aux_classifier/ce_real",
        "loss/g/aux_classifier/ce",
        "weight/d/adversarial/adv",
    ]:
        assert col in steps

    grids = sorted(p.name for p in (out / "samples").iterdir())
    assert grids == ["step_000003.png", "step_000006.png"]
    w, h = Image.open(out / "samples" / "step_000006.png").size
    assert (w, h) == (8 * (size + 2) + 2, classes * (size + 2) + 2)  # one row per class

    assert load_torch(out / "checkpoints" / "last.pt")["step"] == 6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "done" and summary["steps"] == 6 and summary["imgs_per_s"] > 0
    assert set(summary["final_losses"]) == {c for c in steps.columns if c.startswith("loss/")}


def test_existing_run_is_never_overwritten_and_resume_needs_a_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    path = write_spec(tmp_path / "s.json", tiny_spec(out=str(out)))
    assert main(["run", str(path), "--steps", "2"]) == 0
    before = (out / "checkpoints" / "last.pt").read_bytes()
    assert main(["run", str(path)]) == 2
    assert "already holds a run; pass --resume" in capsys.readouterr().err
    assert (out / "checkpoints" / "last.pt").read_bytes() == before
    assert main(["run", str(path), "--resume", "--out", str(tmp_path / "empty")]) == 2
    assert "--resume: no checkpoint at" in capsys.readouterr().err
    assert main(["run", str(path), "--resume", "--set", "train.batch_size=4"]) == 2
    assert "the spec differs" in capsys.readouterr().err


def test_a_checkpoint_that_does_not_fit_or_cannot_be_read_is_one_clear_line(tmp_path, capsys):
    out = tmp_path / "run"
    path = write_spec(tmp_path / "s.json", tiny_spec(out=str(out)))
    assert main(["run", str(path), "--steps", "2"]) == 0
    last = out / "checkpoints" / "last.pt"
    state = load_torch(last)
    state["discriminator"] = {f"renamed.{k}": v for k, v in state["discriminator"].items()}
    save_checkpoint(last, state)  # as if another version had named its layers differently
    assert main(["run", str(path), "--resume", "--steps", "4"]) == 2
    err = capsys.readouterr().err
    assert f"{last}: does not fit the networks this spec builds" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    last.write_bytes(b"not a checkpoint")
    assert main(["eval", str(out), "--metrics", "accuracy"]) == 2
    err = capsys.readouterr().err
    assert f"{last}: not a readable checkpoint" in err and "Traceback" not in err


def _kill_after_first_checkpoint(spec_path: Path, out: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mtbench", "run", str(spec_path)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "summary.json").exists(), "the run ended before it could be killed"


@pytest.mark.parametrize("source", ["memory", "stream"])
def test_resume_after_sigkill_ends_with_the_same_weights(tmp_path, source):
    """Streamed with 2 workers too: the resumed stream seeks to the checkpoint's step."""
    base = tiny_spec(data={"source": source, "workers": 2})
    base["train"].update(steps=150, batch_size=8)
    base["log"].update(every=5, checkpoint_every=10, sample_every=1000)
    a, b = tmp_path / "a", tmp_path / "b"
    path_a = write_spec(tmp_path / "a.json", {**base, "out": str(a)})
    path_b = write_spec(tmp_path / "b.json", {**base, "out": str(b)})
    assert _cli("run", str(path_a)).returncode == 0
    _kill_after_first_checkpoint(path_b, b)
    killed_at = load_torch(b / "checkpoints" / "last.pt")["step"]
    assert 0 < killed_at < 150
    done = _cli("run", str(path_b), "--resume")
    assert done.returncode == 0, done.stderr
    assert json.loads((b / "spec.json").read_text())["meta"]["data_source"]["source"] == source

    sa, sb = load_torch(a / "checkpoints" / "last.pt"), load_torch(b / "checkpoints" / "last.pt")
    for part in ("generator", "ema", "discriminator"):
        for k in sa[part]:
            assert torch.equal(sa[part][k], sb[part][k]), (part, k)
    ta, tb = pd.read_parquet(a / "steps.parquet"), pd.read_parquet(b / "steps.parquet")
    assert tb["step"].tolist() == ta["step"].tolist()  # no row lost or doubled
    losses = [c for c in ta.columns if c.startswith("loss/")]
    pd.testing.assert_frame_equal(ta[losses], tb[losses])


class _NanHead(HeadPlugin):
    name = "nan_after"
    description = "test head whose D term turns NaN at a chosen step"
    calls = 0

    def d_terms(self, real, fake):
        type(self).calls += self.training  # the core's eval-mode probe pass does not count
        value = fake.features.mean() * 0
        return {"x": value + (float("nan") if type(self).calls >= 4 else 0.0)}

    def g_terms(self, fake, real):
        return {}


def test_non_finite_loss_stops_naming_term_and_step_and_keeps_last_good_checkpoint(tmp_path):
    reg = registry_with(_NanHead)
    s = tiny_spec(out=str(tmp_path / "run"))
    s["discriminator"]["heads"].append({"type": "nan_after"})
    s["log"].update(every=1, checkpoint_every=2)
    summary = run(spec.resolve(s, reg), reg, s["out"])
    assert summary["status"] == "diverged" and summary["steps"] == 3
    assert "loss term nan_after/x of the D step became non-finite at step 4" in summary["error"]
    ckpt = load_torch(tmp_path / "run" / "checkpoints" / "last.pt")
    assert ckpt["step"] == 2  # the last good one, not overwritten
    assert all(torch.isfinite(v).all() for v in ckpt["generator"].values() if v.is_floating_point())
    steps = pd.read_parquet(tmp_path / "run" / "steps.parquet")
    assert steps["step"].max() <= 3


def test_ctrl_c_writes_a_checkpoint_and_exits_cleanly_then_resumes(tmp_path):
    out = tmp_path / "run"
    s = tiny_spec(out=str(out))
    s["train"]["steps"] = 100_000
    s["log"].update(checkpoint_every=100_000, sample_every=100_000)
    path = write_spec(tmp_path / "s.json", s)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mtbench", "run", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not (out / "spec.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted at step" in err
    step = load_torch(out / "checkpoints" / "last.pt")["step"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["steps"] == step > 0
    done = _cli("run", str(path), "--resume", "--steps", str(step + 2))
    assert done.returncode == 0, done.stderr
    assert load_torch(out / "checkpoints" / "last.pt")["step"] == step + 2


@pytest.fixture
def evaluated(tmp_path, monkeypatch):
    """A finished 4-step run evaluated at its end (fid, accuracy), made as a bench job of 3."""
    monkeypatch.setenv(JOBS_ENV, "3")
    out = tmp_path / "run"
    s = tiny_spec(out=str(out))
    s["train"]["steps"] = 4
    s["eval"] = {
        "metrics": ["fid", "accuracy"],
        "n_samples": 90,
        "kid_subset_size": 10,
        "cache_dir": str(tmp_path / "cache"),
        "domain": {"epochs": 1},
    }
    spec = write_spec(tmp_path / "s.json", s)
    assert main(["run", str(spec)]) == 0
    return spec, out


def _summary(out) -> dict:
    return json.loads((out / "summary.json").read_text())


@pytest.mark.slow
def test_post_hoc_eval_reaches_report_and_compare(evaluated, capsys):
    spec, out = evaluated
    trained = _summary(out)["metrics"]
    assert {"fid", "accuracy"} <= set(trained) and "kid" not in trained
    assert main(["eval", str(out), "--metrics", "kid"]) == 0
    capsys.readouterr()
    assert main(["report", str(out), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["kid_mean"] > 0 and row["fid_mean"] == pytest.approx(trained["fid"])
    assert main(["compare", str(out), str(out)]) == 0
    text = capsys.readouterr().out
    assert "| kid |" in text and "A: step 4 (ema+last (kid, evaluator_accuracy))" in text


@pytest.mark.slow
def test_resuming_a_finished_run_copies_no_post_hoc_metric_into_summary(evaluated):
    spec, out = evaluated
    trained = _summary(out)["metrics"]
    assert main(["eval", str(out), "--metrics", "kid"]) == 0
    assert main(["run", str(spec), "--resume"]) == 0  # a finished run, resumed
    assert _summary(out)["metrics"] == trained  # no kid copied in from mtbench eval


@pytest.mark.slow
def test_spec_meta_records_each_sessions_contention(evaluated):
    spec, out = evaluated
    (first,) = json.loads((out / "spec.json").read_text())["meta"]["contention"]
    assert first["jobs"] == 3 and first["torch_threads"] == 1 and first["cpu_count"] >= 1
    assert len(first["load_start"]) == len(first["load_end"]) == 3
    assert main(["run", str(spec), "--resume"]) == 0
    sessions = json.loads((out / "spec.json").read_text())["meta"]["contention"]
    assert len(sessions) == 2 and sessions[0] == first


def test_summary_records_when_training_began_for_the_startup_benchmark(tmp_path):
    """``fit_started_at`` (wall clock) is what benchmarks/bench_data.py reads as the time
    from ``mtbench run`` to the first step: after the launch, before the summary."""
    t0 = time.time()
    s = tiny_spec(out=str(tmp_path / "run"))
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    summary = tmp_path / "run" / "summary.json"
    began = json.loads(summary.read_text())["fit_started_at"]
    assert t0 < began < summary.stat().st_mtime
