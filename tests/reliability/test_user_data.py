"""Nothing a user made is lost: foreign folders are refused, post-hoc evaluation only adds
rows, a vanished run folder stops the run, kill leftovers are cleaned, corrupt checkpoints
are caught by their checksum."""

from __future__ import annotations

import json
import shutil
import struct
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import torch
from fake_runs import fake_run
from helpers import tiny_spec, write_spec

import mtbench.train.run as run_module
from mtbench.bench import decide
from mtbench.cli import main
from mtbench.io import load_torch
from mtbench.layout import RunDir, SuiteDir


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- run --out


def _users_folder(folder: Path) -> Path:
    """A folder of the user's own files that happen to carry run-folder names."""
    (folder / "samples").mkdir(parents=True)
    (folder / "spec.json").write_text('{"my": "own notes"}')
    (folder / "steps.parquet").write_bytes(b"my table")
    (folder / "samples" / "step_000003.png").write_bytes(b"my picture")
    return folder


@pytest.mark.parametrize("extra", [None, "notes.txt"])
def test_run_into_a_folder_that_is_not_a_run_of_this_spec_is_refused(tmp_path, capsys, extra):
    folder = _users_folder(tmp_path / "mine")
    if extra:
        (folder / extra).write_text("mine")
    before = _snapshot(folder)
    spec = write_spec(tmp_path / "s.json", tiny_spec())
    assert main(["run", str(spec), "--out", str(folder)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"{folder}: ") and "pass --out with a new or empty folder" in line
    assert _snapshot(folder) == before


def test_run_may_start_over_an_earlier_start_of_the_same_spec_or_a_bench_folder(tmp_path):
    out = tmp_path / "run"
    spec = write_spec(tmp_path / "s.json", tiny_spec(out=str(out)))
    assert main(["run", str(spec), "--steps", "2"]) == 0
    shutil.rmtree(out / "checkpoints")
    (out / "summary.json").unlink()  # as if killed before its first checkpoint
    assert main(["run", str(spec), "--steps", "2"]) == 0
    bench = tmp_path / "bench-run"
    bench.mkdir()
    for name in (RunDir.RUN_SPEC, RunDir.STDOUT, RunDir.STDERR):
        (bench / name).write_text("{}")
    assert main(["run", str(spec), "--steps", "2", "--out", str(bench)]) == 0


def test_run_refuses_a_folder_left_by_a_start_of_another_spec(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        main(["run", str(write_spec(tmp_path / "a.json", tiny_spec(out=str(out)))), "--steps", "2"])
        == 0
    )
    shutil.rmtree(out / "checkpoints")
    (out / "summary.json").unlink()
    other = tiny_spec(out=str(out), seed=1)
    before = _snapshot(out)
    assert main(["run", str(write_spec(tmp_path / "b.json", other))]) == 2
    assert "holds files of a run of another spec" in _one_line(capsys.readouterr().err)
    assert _snapshot(out) == before


# ----------------------------------------------------------------------------- report --out


def test_report_out_writes_only_into_a_new_empty_or_marked_folder(tmp_path, capsys):
    runs = tmp_path / "runs"
    fake_run(runs / "a-s0", "a", 0, {"fid": 10.0})
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.md").write_text("my own readme")
    assert main(["report", str(runs), "--out", str(mine)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "not written by mtbench report" in line and "give a new or empty folder" in line
    assert _snapshot(mine) == {"README.md": b"my own readme"}
    pub = tmp_path / "pub"
    assert main(["report", str(runs), "--out", str(pub)]) == 0
    assert (pub / SuiteDir.REPORT_MARK).is_file() and (pub / "README.md").is_file()
    assert main(["report", str(runs), "--out", str(pub)]) == 0  # its own folder: rewritten
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(runs), "--out", str(empty)]) == 0


# ----------------------------------------------------------------------------- eval --checkpoint


def _eval_spec(tmp_path: Path, **train) -> dict:
    s = tiny_spec(out=str(tmp_path / "run"))
    s["train"].update(train)
    s["log"].update(every=2, checkpoint_every=2, sample_every=100)
    s["eval"] = {
        "metrics": ["accuracy"],
        "every": 2,
        "n_samples": 30,
        "cache_dir": str(tmp_path / "cache"),
        "domain": {"epochs": 1},
    }
    return s


def test_posthoc_eval_of_an_older_best_checkpoint_only_adds_rows(tmp_path):
    s = _eval_spec(tmp_path, steps=4)
    path = write_spec(tmp_path / "s.json", s)
    run = Path(s["out"])
    assert main(["run", str(path)]) == 0
    step4 = (run / "checkpoints" / "last.pt").read_bytes()
    assert main(["run", str(path), "--resume", "--steps", "8"]) == 0
    (run / "checkpoints" / "best.pt").write_bytes(step4)  # best.pt older than the last eval
    before = pd.read_parquet(run / "evals.parquet")
    assert before["step"].max() == 8
    assert main(["eval", str(run), "--checkpoint", "best"]) == 0
    after = pd.read_parquet(run / "evals.parquet")
    assert len(after) > len(before)
    pd.testing.assert_frame_equal(after.iloc[: len(before)], before)
    assert set(after.iloc[len(before) :]["checkpoint"]) == {"best"}


# ----------------------------------------------------------------------------- vanished folder


def test_a_run_whose_folder_is_deleted_while_training_stops_in_one_line(
    tmp_path, capsys, monkeypatch
):
    out = tmp_path / "run"
    s = tiny_spec(out=str(out))
    s["train"]["steps"] = 9
    save_grid = run_module.save_grid

    def save_then_delete(generator, inputs, path):
        grids = save_grid(generator, inputs, path)
        if path.name == "step_000003.png":
            shutil.rmtree(out)  # the user deletes the folder while the run trains
        return grids

    monkeypatch.setattr(run_module, "save_grid", save_then_delete)
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"{out}: the run folder") and "removed while the run trained" in line
    assert not (out / RunDir.SUMMARY).exists() and not (out / RunDir.CHECKPOINTS).exists()
    assert not out.exists()  # nor TensorBoard's events


def test_bench_treats_a_folder_without_spec_json_as_not_done(tmp_path):
    rd = RunDir(tmp_path / "v-s0")
    rd.root.mkdir()
    (rd.root / RunDir.SUMMARY).write_text(json.dumps({"status": "done", "steps": 6}))
    rd.last.parent.mkdir()
    rd.last.write_bytes(b"left by a run whose folder was deleted")
    assert decide(rd, 6) == "start"
    rd.spec.write_text("{}")
    assert decide(rd, 6) == "skip"


# ----------------------------------------------------------------------------- kill leftovers


def test_temp_files_left_by_a_kill_are_removed_on_the_next_start(tmp_path):
    out = tmp_path / "run"
    path = write_spec(tmp_path / "s.json", tiny_spec(out=str(out)))
    assert main(["run", str(path), "--steps", "3"]) == 0
    leftovers = [
        out / "checkpoints" / ".last.pt.k1lled.tmp",
        out / ".steps.parquet.k1lled.tmp",
        out / "samples" / ".step_000003.png.k1lled.tmp",
    ]
    for p in leftovers:
        p.write_bytes(b"half a file")
    assert main(["run", str(path), "--resume", "--steps", "4"]) == 0
    assert not any(p.exists() for p in leftovers)


# ----------------------------------------------------------------------------- checksums


def flip_a_bit_in_a_tensor(path: Path) -> None:
    """Flip one bit inside the largest tensor's bytes of a torch zip file (structure intact)."""
    with zipfile.ZipFile(path) as z:
        info = max((i for i in z.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    data = bytearray(path.read_bytes())
    header = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[header + 26 : header + 30])
    start = header + 30 + name_len + extra_len
    data[start + info.file_size // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_bit_flip_in_last_pt_is_one_clear_line_without_an_earlier_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    path = write_spec(tmp_path / "s.json", tiny_spec(out=str(out)))
    assert main(["run", str(path), "--steps", "3"]) == 0
    last = out / "checkpoints" / "last.pt"
    flip_a_bit_in_a_tensor(last)
    load_torch(last)  # still loads as a file: only the checksum can tell
    assert main(["run", str(path), "--resume", "--steps", "6"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"{last}: its contents do not match its checksum")
    assert "pass --out" in line
    assert main(["eval", str(out), "--metrics", "accuracy"]) == 2
    assert "do not match its checksum" in _one_line(capsys.readouterr().err)


def test_a_bit_flip_in_last_pt_falls_back_to_best_pt_and_resume_stays_exact(tmp_path, caplog):
    straight = _eval_spec(tmp_path / "a", steps=8)
    straight["out"] = str(tmp_path / "a")
    assert main(["run", str(write_spec(tmp_path / "a.json", straight))]) == 0
    s = _eval_spec(tmp_path, steps=6)
    path = write_spec(tmp_path / "s.json", s)
    assert main(["run", str(path)]) == 0
    out = Path(s["out"])
    best = load_torch(out / "checkpoints" / "best.pt")["step"]
    flip_a_bit_in_a_tensor(out / "checkpoints" / "last.pt")
    assert main(["run", str(path), "--resume", "--steps", "8"]) == 0
    err = caplog.text  # the mtbench logger's warning: on stderr outside pytest
    assert f"resuming from {out / 'checkpoints' / 'best.pt'} (step {best}) instead" in err
    a = load_torch(tmp_path / "a" / "checkpoints" / "last.pt")
    b = load_torch(out / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 8
    for part in ("generator", "ema", "discriminator"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    steps_a, steps_b = (pd.read_parquet(p / "steps.parquet") for p in (tmp_path / "a", out))
    assert steps_b["step"].tolist() == steps_a["step"].tolist()
