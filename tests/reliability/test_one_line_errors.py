"""Hostile inputs and faults end with one line and exit code 2, never a traceback."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import REPO, tiny_spec, write_spec

from mtbench import io as mio
from mtbench.cli import main
from mtbench.io import load_torch
from mtbench.train import run as run_module

QUICKSTART = str(REPO / "examples" / "quickstart.json")
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as mtbench.cli reports a reader that went away


def one_line(capsys, *argv: str) -> str:
    """Run the CLI in-process; assert exit 2 and exactly one line on stderr; return it."""
    capsys.readouterr()
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mtbench", *args], capture_output=True, text=True, **kw
    )


# ----------------------------------------------------------------------------- JSON


def test_deeply_nested_spec_file(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 1200 + "]" * 1200)
    assert "nested more than 64 levels" in one_line(capsys, "validate", str(path))
    path.write_text('{"name": "x", "meta": ' + "[" * 300 + "]" * 300 + "}")
    assert "nested more than 64 levels" in one_line(capsys, "validate", str(path))


def test_deeply_nested_set_value(capsys):
    deep = "[" * 1200 + "]" * 1200
    line = one_line(capsys, "validate", QUICKSTART, "--set", f"meta={deep}")
    assert line.startswith("--set meta: nested more than 64 levels")
    line = one_line(capsys, "validate", QUICKSTART, "--set", "meta=" + "[" * 500 + "]" * 500)
    assert "nested more than 64 levels" in line  # parses, but pydantic would overflow
    dotted = ".".join(["a"] * 100)
    assert "nested more than 64" in one_line(capsys, "validate", QUICKSTART, "--set", f"{dotted}=1")


def test_five_thousand_digit_integer(tmp_path, capsys):
    data = json.loads(Path(QUICKSTART).read_text())
    path = tmp_path / "big.json"
    path.write_text(json.dumps(data)[:-1] + ', "seed": ' + "9" * 5000 + "}")
    assert "a number has more than" in one_line(capsys, "validate", str(path))
    line = one_line(capsys, "validate", QUICKSTART, "--set", "seed=" + "9" * 5000)
    assert line.startswith("--set seed: a number has more than")


def test_nan_and_infinity_are_not_json(tmp_path, capsys):
    path = tmp_path / "nan.json"
    path.write_text(Path(QUICKSTART).read_text().replace('"lr": 0.0002', '"lr": NaN', 1))
    assert "NaN is not a JSON number" in one_line(capsys, "validate", str(path))
    line = one_line(capsys, "validate", QUICKSTART, "--set", "train.ema_decay=Infinity")
    assert "Infinity is not a JSON number" in line


def test_metrics_holding_a_list(capsys):
    """Found by the property test (``TypeError: unhashable type``)."""
    line = one_line(capsys, "validate", QUICKSTART, "--set", "eval.metrics=[[]]")
    assert line.startswith("eval.metrics[0]:")


# ----------------------------------------------------------------------------- bounds

ACCEPTED_THEN_CRASHED = [
    ("seed=4294967296", "seed:"),
    ("train.g.betas=[1.5, 0.9]", "train.g.betas[0]:"),
    ("train.d.betas=[0.5, 1.0]", "train.d.betas[1]:"),
    ("train.threads=2147483648", "train.threads:"),
    ("train.batch_size=1e12", "train.batch_size:"),
    ('out="runs/a\\u0000b"', "out: contains a NUL character"),
    ("out=" + "a" * 300, "out: has a folder or file name longer than 255 bytes"),
    ("name=" + "a" * 5000, "name:"),
    ("train.steps=" + "9" * 30, "train.steps:"),
    ("eval.n_samples=1e12", "eval.n_samples:"),
    ('eval.cache_dir="/tmp/a\\u0000"', "eval.cache_dir: contains a NUL character"),
    ("eval.domain.seed=18446744073709551616", "eval.domain.seed:"),
    ("log.every=" + "9" * 30, "log.every:"),
]


@pytest.mark.parametrize("setting, start", ACCEPTED_THEN_CRASHED, ids=lambda v: v[:30])
def test_fields_that_crashed_a_run_are_refused_by_validate(capsys, setting, start):
    assert one_line(capsys, "validate", QUICKSTART, "--set", setting).startswith(start)


def test_a_nan_beta_in_a_spec_object_is_refused():
    from mtbench.errors import SpecError
    from mtbench.spec import parse

    data = json.loads(Path(QUICKSTART).read_text())
    data["train"]["g"]["betas"] = [float("nan"), 0.9]  # a spec built in Python, not JSON
    with pytest.raises(SpecError, match=r"train\.g\.betas\[0\]"):
        parse(data)


def test_suite_seeds_are_bounded_like_run_seeds(tmp_path, capsys):
    suite = json.loads((REPO / "benchmarks" / "suites" / "shapes_multitask.json").read_text())
    suite["seeds"] = [2**32]
    path = write_spec(tmp_path / "suite.json", suite)
    out = str(tmp_path / "out")
    assert one_line(capsys, "bench", str(path), "--dry-run", "--out", out).startswith("seeds[0]")


# ----------------------------------------------------------------------------- files


def test_spec_that_is_a_device_or_a_fifo(tmp_path, capsys):
    (tmp_path / "zero.json").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.json")
    for name, kind in (("zero.json", "device"), ("fifo.json", "FIFO")):
        line = one_line(capsys, "validate", str(tmp_path / name))
        assert f"not a regular file (a {kind})" in line and "no such" not in line
    assert "no such spec file" in one_line(capsys, "validate", str(tmp_path / "none.json"))


def test_read_regular_refuses_files_past_the_limit(tmp_path):
    from mtbench.errors import UserError

    (tmp_path / "f").write_bytes(b"x" * 11)
    with pytest.raises(UserError, match="larger than 10 bytes"):
        mio.read_regular(tmp_path / "f", 10, "spec")
    assert mio.read_regular(tmp_path / "f", 11) == b"x" * 11


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A finished 3-step run with a checkpoint at step 3, and its spec file."""
    root = tmp_path_factory.mktemp("trained")
    s = tiny_spec(out=str(root / "run"))
    s["train"]["steps"] = 3
    spec_file = write_spec(root / "s.json", s)
    assert main(["run", str(spec_file)]) == 0
    return root / "run", spec_file


@pytest.fixture
def run_copy(trained, tmp_path) -> tuple[Path, Path]:
    """A copy of ``trained`` to damage, and a spec file that writes into it."""
    src, spec_file = trained
    dst = tmp_path / "run"
    shutil.copytree(src, dst)
    s = json.loads(spec_file.read_text())
    s["out"] = str(dst)
    return dst, write_spec(tmp_path / "s.json", s)


def _resume(capsys, spec_file: Path) -> str:
    return one_line(capsys, "run", str(spec_file), "--resume", "--steps", "6")


def test_resume_without_spec_json(run_copy, capsys):
    out, spec_file = run_copy
    (out / "spec.json").unlink()
    line = _resume(capsys, spec_file)
    assert line.startswith("--resume:") and "spec.json" in line and "--out" in line


def test_resume_with_a_truncated_spec_json(run_copy, capsys):
    out, spec_file = run_copy
    text = (out / "spec.json").read_text()
    (out / "spec.json").write_text(text[: len(text) // 2])
    line = _resume(capsys, spec_file)
    assert line.startswith("--resume:") and "not valid JSON" in line


def test_resume_with_a_corrupt_steps_table(run_copy, capsys):
    out, spec_file = run_copy
    (out / "steps.parquet").write_bytes(b"PAR1 not really")
    line = _resume(capsys, spec_file)
    assert "steps.parquet: not a readable table" in line and "move it aside" in line


@pytest.mark.timeout(120)
def test_resume_from_a_fifo_checkpoint_does_not_hang(run_copy, capsys):
    out, spec_file = run_copy
    last = out / "checkpoints" / "last.pt"
    last.unlink()
    os.mkfifo(last)
    assert "last.pt: not a regular file (a FIFO)" in _resume(capsys, spec_file)
    with pytest.raises(Exception, match="not a regular file"):
        load_torch(last)


def test_resume_after_ctrl_c_before_the_first_logged_step(tmp_path, monkeypatch, capsys):
    s = tiny_spec(out=str(tmp_path / "run"))
    s["train"]["steps"] = 8
    s["log"].update(every=5, checkpoint_every=100, sample_every=100)
    spec_file = write_spec(tmp_path / "s.json", s)
    after = run_module.RunFiles.after_step

    def ctrl_c_at_step_2(self, trainer):
        after(self, trainer)
        trainer.stop_requested |= trainer.step == 2

    monkeypatch.setattr(run_module.RunFiles, "after_step", ctrl_c_at_step_2)
    assert main(["run", str(spec_file)]) == 130
    monkeypatch.undo()
    assert pd.read_parquet(tmp_path / "run" / "steps.parquet").empty
    assert main(["run", str(spec_file), "--resume"]) == 0
    assert pd.read_parquet(tmp_path / "run" / "steps.parquet")["step"].tolist() == [5, 8]


def test_resume_with_a_steps_table_without_columns(run_copy, capsys):
    """What an interrupted run wrote before the first logged step, up to this fix."""
    out, spec_file = run_copy
    pd.DataFrame().to_parquet(out / "steps.parquet")
    assert main(["run", str(spec_file), "--resume", "--steps", "4"]) == 0


# ----------------------------------------------------------------------------- disk faults


def _fail_second_checkpoint(monkeypatch, code: int) -> None:
    """The second write of last.pt fails as a full (or read-only) disk would fail it."""
    real_fsync, seen = os.fsync, []

    def fsync(fd):
        target = os.readlink(f"/proc/self/fd/{fd}") if isinstance(fd, int) else ""
        if ".last.pt." in target:
            seen.append(target)
            if len(seen) == 2:
                raise OSError(code, os.strerror(code))
        return real_fsync(fd)

    monkeypatch.setattr(mio.os, "fsync", fsync)


def _state(out: Path) -> dict:
    return load_torch(out / "checkpoints" / "last.pt")


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS], ids=["ENOSPC", "EROFS"])
def test_a_full_or_read_only_disk_keeps_the_last_checkpoint_and_resume_is_exact(
    tmp_path, monkeypatch, capsys, code
):
    s = tiny_spec(out=str(tmp_path / "a"))
    s["log"].update(every=2, checkpoint_every=2, sample_every=100)
    spec_a = write_spec(tmp_path / "a.json", s)
    _fail_second_checkpoint(monkeypatch, code)
    line = one_line(capsys, "run", str(spec_a))
    monkeypatch.undo()
    assert os.strerror(code) in line and "last.pt" in line
    assert "checkpoints/last.pt (step 2) was kept" in line and "--resume" in line
    assert _state(tmp_path / "a")["step"] == 2
    assert not list((tmp_path / "a").rglob("*.tmp"))
    assert main(["run", str(spec_a), "--resume"]) == 0
    s["out"] = str(tmp_path / "b")
    assert main(["run", str(write_spec(tmp_path / "b.json", s))]) == 0
    a, b = _state(tmp_path / "a"), _state(tmp_path / "b")
    for part in ("generator", "discriminator", "ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)


def _limit_file_size():
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG


def test_a_real_write_fault_before_any_checkpoint_says_none_was_kept(tmp_path):
    """A 100 kB file-size limit: spec.json and samples fit, the first last.pt does not."""
    s = tiny_spec(out=str(tmp_path / "run"))
    spec_file = write_spec(tmp_path / "s.json", s)
    p = _cli("run", str(spec_file), preexec_fn=_limit_file_size)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    assert "File too large" in lines[0] and "no checkpoint had been written yet" in lines[0]
    assert not list((tmp_path / "run").rglob("*.tmp"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_run_folder(run_copy, capsys):
    out, spec_file = run_copy
    (out / "checkpoints").chmod(0o555)
    try:
        line = _resume(capsys, spec_file)
    finally:
        (out / "checkpoints").chmod(0o755)
    assert "Permission denied" in line and "was kept" in line


# ----------------------------------------------------------------------------- images


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` greyscale pixels in a few dozen bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _image_folder(tmp_path: Path, bomb: bytes) -> Path:
    from PIL import Image

    root = tmp_path / "images"
    for k in ("a", "b"):
        (root / k).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(root / k / f"{i}.png")
    (root / "b" / "bomb.png").write_bytes(bomb)
    return root


def test_an_image_folder_holding_a_decompression_bomb(tmp_path, capsys):
    root = _image_folder(tmp_path, _png_header(20_000, 20_000))  # 400 megapixels
    s = tiny_spec(dataset={"type": "image_folder", "root": str(root), "size": 16})
    s["discriminator"]["heads"] = [{"type": "adversarial"}]
    s["out"] = str(tmp_path / "run")
    line = one_line(capsys, "run", str(write_spec(tmp_path / "s.json", s)))
    assert line.startswith(f"{root / 'b' / 'bomb.png'}:") and "decompression bomb" in line


def test_an_image_past_pils_warning_limit_is_refused_too(tmp_path):
    from mtbench.errors import UserError
    from mtbench_plugins.datasets.image_folder import read_image

    path = tmp_path / "big.png"
    path.write_bytes(_png_header(10_000, 10_000))  # 100 Mpx: PIL only warns, then decodes
    with pytest.raises(UserError, match="big.png: .*decompression bomb"):
        read_image(path, 8, 3)


# ----------------------------------------------------------------------------- pipes


def test_list_into_a_closed_pipe(tmp_path):
    r, w = os.pipe()
    os.close(r)  # the reader is gone before a byte is written, as with `| head` on big output
    try:
        p = subprocess.run(
            [sys.executable, "-m", "mtbench", "list", "--json"], stdout=w, stderr=subprocess.PIPE
        )
    finally:
        os.close(w)
    assert p.returncode == EXIT_BROKEN_PIPE and b"Traceback" not in p.stderr, p.stderr
    assert p.stderr == b""
