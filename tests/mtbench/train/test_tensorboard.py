"""TensorBoard events of a run, read back with tensorboard's EventAccumulator: every steps-table
column and evaluation metric as scalars at their steps, sample grids per output, the spec."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest
from helpers import tiny_spec, write_spec

from mtbench.cli import main
from mtbench.layout import RunDir

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import (  # noqa: E402
    EventAccumulator,
)


def _events(rd: RunDir) -> EventAccumulator:
    acc = EventAccumulator(str(rd.tb), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def _run(tmp_path, spec: dict, *extra: str) -> RunDir:
    out = tmp_path / "run"
    path = write_spec(tmp_path / "s.json", spec)
    assert main(["run", str(path), "--out", str(out), *extra]) == 0
    return RunDir(out)


def test_events_hold_every_steps_column_metric_grid_and_spec(tmp_path):
    ev = {"metrics": ["accuracy"], "every": 3, "n_samples": 24, "batch_size": 24}
    rd = _run(tmp_path, tiny_spec(eval=ev))
    acc = _events(rd)
    tags = acc.Tags()
    steps = pd.read_parquet(rd.steps)
    columns = [c for c in steps.columns if c not in ("step", "run_id")]
    assert set(columns) <= set(tags["scalars"])
    assert any(c.startswith("loss/d/") for c in columns) and "t_total" in columns
    for c in columns:
        assert [e.step for e in acc.Scalars(c)] == steps["step"].tolist()
    loss = next(c for c in columns if c.startswith("loss/g/"))
    assert [e.value for e in acc.Scalars(loss)] == pytest.approx(steps[loss].tolist())
    evals = pd.read_parquet(rd.evals)
    acc_rows = evals[evals["metric"] == "accuracy"]
    got = acc.Scalars("eval/accuracy")
    assert [e.step for e in got] == acc_rows["step"].tolist() == [3, 6]
    assert [e.value for e in got] == pytest.approx(acc_rows["value"].tolist())
    images = acc.Images("samples/image")
    assert [e.step for e in images] == [3, 6]  # sample_every 3, and the final grid
    assert images[0].width > 16 and images[0].height > 16
    text = acc.Tensors("spec/text_summary")[0].tensor_proto.string_val[0].decode()
    assert json.loads(text.split("```json\n")[1].split("\n```")[0])["name"] == "tiny"


def test_tensorboard_false_writes_no_events(tmp_path):
    spec = tiny_spec()
    spec["log"] = {**spec["log"], "tensorboard": False}
    rd = _run(tmp_path, spec)
    assert rd.steps.exists() and not rd.tb.exists()


def test_asked_for_but_not_installed_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # find_spec then raises ValueError
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    spec = tiny_spec()
    spec["log"] = {**spec["log"], "tensorboard": True}
    out = tmp_path / "run"
    assert main(["run", str(write_spec(tmp_path / "s.json", spec)), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mtbench[tensorboard]" in err[0] and "log.tensorboard" in err[0]
    assert not out.exists()
    spec["log"]["tensorboard"] = None  # the default: off when not installed, and the run works
    assert main(["run", str(write_spec(tmp_path / "s.json", spec)), "--out", str(out)]) == 0
    assert not RunDir(out).tb.exists()


def test_resume_drops_events_past_the_checkpoint(tmp_path):
    spec = tiny_spec()
    path = write_spec(tmp_path / "s.json", spec)
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--steps", "4"]) == 0
    assert main(["run", str(path), "--out", str(out), "--resume"]) == 0
    acc = _events(RunDir(out))
    assert [e.step for e in acc.Scalars("t_total")] == [2, 4, 6]


def test_one_grid_per_output_of_a_multi_output_generator(tmp_path, mnist_root):
    spec = tiny_spec(
        dataset={"type": "mnist_tasks", "root": str(mnist_root), "tasks": ["edges"]},
        generator={
            "type": "multi_output",
            "z_dim": 8,
            "width": 8,
            "embed_dim": 4,
            "outputs": ["image", "edges"],
        },
    )
    spec["log"] = {**spec["log"], "samples_per_class": 1}
    spec["train"] = {**spec["train"], "steps": 3}
    rd = _run(tmp_path, spec)
    tags = _events(rd).Tags()["images"]
    assert set(tags) == {"samples/image", "samples/edges"}


def test_a_removed_folder_drops_the_writer_quietly(tmp_path):
    import shutil
    import threading
    import time

    from mtbench.train.tensorboard import Board

    seen = []
    old = threading.excepthook
    threading.excepthook = seen.append
    try:
        board = Board(tmp_path / "run" / "tb")
        board.row({"step": 1, "t_total": 0.5})
        board.writer.flush()
        shutil.rmtree(tmp_path / "run")
        for step in range(2, 40):  # the writer's thread fails; its error comes back here
            board.row({"step": step, "t_total": 0.5})
            time.sleep(0.005)
        board.close()
    finally:
        threading.excepthook = old
    assert board.writer is None and not seen and not (tmp_path / "run").exists()
