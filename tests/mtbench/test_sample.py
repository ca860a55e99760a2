"""``mtbench sample``: seeded images from a checkpoint, EMA by default, conditioned as asked;
bad input is one line, exit 2, with nothing written."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from mtbench.cli import main
from mtbench.layout import RunDir


@pytest.fixture
def run_dir(ema_run) -> RunDir:
    return ema_run


def _code(argv: list[str]) -> int:
    """main's exit code, also for argparse's errors (which exit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _npz(run_dir: RunDir, out, *flags: str) -> dict:
    assert main(["sample", str(run_dir.root), "--out", str(out), "--format", "npz", *flags]) == 0
    return dict(np.load(out / "samples.npz"))


def test_same_seed_same_images_other_seed_or_raw_other_images(run_dir, tmp_path):
    a = _npz(run_dir, tmp_path / "a", "--seed", "3", "--n", "5")
    b = _npz(run_dir, tmp_path / "b", "--seed", "3", "--n", "5")
    c = _npz(run_dir, tmp_path / "c", "--seed", "4", "--n", "5")
    raw = _npz(run_dir, tmp_path / "r", "--seed", "3", "--n", "5", "--raw")
    assert a["output_image"].shape == (5, 3, 16, 16) and a["output_image"].dtype == np.uint8
    np.testing.assert_array_equal(a["output_image"], b["output_image"])
    np.testing.assert_array_equal(a["z"], raw["z"])
    assert not np.array_equal(a["output_image"], c["output_image"])
    assert not np.array_equal(a["output_image"], raw["output_image"])  # EMA is not raw


def test_labels_and_per_class_condition_as_asked(run_dir, tmp_path):
    got = _npz(run_dir, tmp_path / "l", "--labels", "0,3,7", "--n", "2")
    assert got["labels"].tolist() == [0, 0, 3, 3, 7, 7]
    got = _npz(run_dir, tmp_path / "k", "--per-class", "2")
    assert got["labels"].tolist() == [c for c in range(9) for _ in range(2)]


def test_png_and_grid_formats(run_dir, tmp_path):
    assert main(["sample", str(run_dir.root), "--out", str(tmp_path / "p"), "--format", "png",
                 "--labels", "1,2", "--n", "2"]) == 0  # fmt: skip
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["00000_c1.png", "00001_c1.png", "00002_c2.png", "00003_c2.png"]
    assert Image.open(tmp_path / "p" / names[0]).size == (16, 16)
    assert (
        main(["sample", str(run_dir.root), "--out", str(tmp_path / "g"), "--per-class", "3"]) == 0
    )
    grid = Image.open(tmp_path / "g" / "grid.png")
    assert grid.size == (2 + 3 * 18, 2 + 9 * 18)  # one row per class, 2-pixel padding


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--labels", "0,9"], "--labels: 9 is out of range"),
        (["--labels", "a"], "--labels: expected class numbers"),
        (["--n", "0"], "--n: expected a positive integer"),
        (["--checkpoint", "best"], "best.pt"),
    ],
)
def test_bad_input_is_one_line_exit_2_nothing_written(run_dir, tmp_path, capsys, flags, says):
    out = tmp_path / "out"
    assert _code(["sample", str(run_dir.root), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and says in err[0]
    assert not out.exists()


def test_existing_out_is_refused_unless_force(run_dir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "grid.png").write_bytes(b"mine")
    (out / "notes.txt").write_text("keep")
    assert main(["sample", str(run_dir.root), "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and (out / "grid.png").read_bytes() == b"mine"
    assert main(["sample", str(run_dir.root), "--out", str(out), "--force"]) == 0
    assert (out / "grid.png").read_bytes() != b"mine" and (out / "notes.txt").read_text() == "keep"


def test_a_run_without_checkpoint_is_one_line(run_dir, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run_dir.spec, bare / RunDir.SPEC)
    assert main(["sample", str(bare), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "last.pt: no such checkpoint" in err[0]
    assert main(["sample", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "not a run folder" in capsys.readouterr().err
