"""The mtbench command: help text, --version, the resume command after Ctrl-C, the end-of-run
table, and --sort checked against the runs."""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from fake_runs import fake_run
from helpers import tiny_spec, write_spec

import mtbench
from mtbench.cli import build_parser, main


def _actions(parser: argparse.ArgumentParser, prog: str = "mtbench"):
    """Every (command, option) of the parser, walking into subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {a.dest for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{prog} {name}", f"(command {name})" if name in helped else None, sub
                yield from _actions(sub, f"{prog} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield prog, action.dest, action


def test_every_command_and_argument_has_help_text():
    missing = []
    for prog, dest, action in _actions(build_parser()):
        if dest is None:
            missing.append(f"{prog}: no help line")
        elif isinstance(action, argparse.Action) and not (action.help or "").strip():
            missing.append(f"{prog} {dest}")
    assert not missing


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"mtbench {mtbench.__version__}"


def variants(csv: str) -> list[str]:
    """The variant column of ``report --format csv``, in its order."""
    return list(pd.read_csv(io.StringIO(csv))["variant"])


def test_report_refuses_an_unknown_sort_key_naming_the_valid_ones(tmp_path, capsys):
    fake_run(tmp_path / "a", "a", 0, {"fid": 3.0, "accuracy": 0.5})
    fake_run(tmp_path / "b", "b", 0, {"fid": 2.0, "accuracy": 0.7})
    assert main(["report", str(tmp_path), "--sort", "bogus"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'bogus'" in err
    assert "fid" in err and "accuracy" in err and "imgs_per_s" in err
    assert main(["report", str(tmp_path), "--sort", "accuracy", "--format", "csv"]) == 0
    assert variants(capsys.readouterr().out) == ["b", "a"]  # higher accuracy first


def test_report_sorts_by_throughput_fastest_first(tmp_path, capsys):
    fake_run(tmp_path / "slow", "slow", 0, {"fid": 1.0})  # 1000 img/s
    fake_run(tmp_path / "fast", "fast", 5, {"fid": 2.0})  # 1050 img/s
    assert main(["report", str(tmp_path), "--sort", "imgs_per_s", "--format", "csv"]) == 0
    assert variants(capsys.readouterr().out)[0] == "fast"


def test_a_finished_run_ends_with_its_metrics_and_where_samples_and_tables_are(tmp_path, capsys):
    out = tmp_path / "run"
    s = tiny_spec(out=str(out))
    s["eval"] = {
        "metrics": ["fid", "accuracy"],
        "n_samples": 60,
        "cache_dir": str(tmp_path / "cache"),
        "domain": {"epochs": 1},
    }
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    text = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    lines = text.splitlines()
    fid = next(line for line in lines if line.split()[:1] == ["fid"])
    assert float(fid.split()[1]) == pytest.approx(summary["metrics"]["fid"], rel=1e-3)
    assert any(line.split()[:1] == ["accuracy"] for line in lines)
    assert f"samples: {out / 'samples' / 'step_000006.png'}" in text
    assert str(out / "steps.parquet") in text and str(out / "evals.parquet") in text


def test_the_printed_resume_command_after_ctrl_c_works_as_printed(tmp_path):
    """Started with --out, --steps, --set and --device, from a spec without "out"."""
    spec = tiny_spec()
    spec["log"].update(checkpoint_every=100_000, sample_every=100_000)
    write_spec(tmp_path / "s.json", spec)
    flags = ["--out", "runs/my run", "--steps", "400", "--set", "train.batch_size=4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "mtbench", "run", "s.json", *flags, "--device", "cpu"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    out = tmp_path / "runs" / "my run"
    deadline = time.time() + 60
    while not (out / "spec.json").exists() and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)  # into the loop, where Ctrl-C asks for a stop after the step
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    printed = err.split("continue with: ", 1)[1].strip()
    words = shlex.split(printed)
    assert words[0] == "mtbench" and words[-1] == "--resume"
    for flag in ("--out", "--steps", "--set", "--device"):
        assert flag in words, printed
    again = subprocess.run(
        [sys.executable, "-m", "mtbench", *words[1:]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0, again.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "done" and summary["steps"] == 400
