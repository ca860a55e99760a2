"""``mtbench export``: the generator as a torch.export file plus its inputs' JSON; a fresh Python
process that cannot import mtbench loads it and makes exactly ``mtbench sample``'s images."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import tiny_spec, write_spec

from mtbench.cli import main
from mtbench.layout import RunDir

LOADER = """
import sys

class NoMtbench:  # any import of mtbench or its plugins fails
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("mtbench", "mtbench_plugins"):
            raise ImportError("mtbench must not be needed: " + name)

sys.meta_path.insert(0, NoMtbench())
import numpy as np
import torch

program, npz, out = sys.argv[1:]
d = np.load(npz)
generator = torch.export.load(program).module()
images = generator(torch.from_numpy(d["z"]), torch.from_numpy(d["labels"]))
u8 = [im.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).numpy() for im in images]
np.savez(out, *u8)
"""


@pytest.fixture
def run_dir(ema_run) -> RunDir:
    return ema_run


def test_exported_file_makes_samples_images_without_mtbench(run_dir, tmp_path):
    program = tmp_path / "g.pt2"
    assert main(["export", str(run_dir.root), "--out", str(program)]) == 0
    meta = json.loads((tmp_path / "g.json").read_text())
    assert meta["z_dim"] == 16 and meta["num_classes"] == 9 and meta["generator"] == "ema"
    assert meta["outputs"] == [{"name": "image", "shape": [3, 16, 16], "range": [-1, 1]}]
    flags = ["--format", "npz", "--labels", "0,3,8", "--n", "3", "--seed", "11"]
    assert main(["sample", str(run_dir.root), "--out", str(tmp_path / "s"), *flags]) == 0
    npz = tmp_path / "s" / "samples.npz"
    got = tmp_path / "got.npz"
    loader = tmp_path / "loader.py"
    loader.write_text(LOADER)
    subprocess.run(
        [sys.executable, str(loader), str(program), str(npz), str(got)],
        check=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    want = np.load(npz)["output_image"]
    np.testing.assert_array_equal(np.load(got)["arr_0"], want)
    assert want.shape == (9, 3, 16, 16)


def test_existing_out_and_missing_checkpoint_are_one_line(run_dir, tmp_path, capsys):
    program = tmp_path / "g.pt2"
    program.write_bytes(b"mine")
    assert main(["export", str(run_dir.root), "--out", str(program)]) == 2
    assert "--force" in capsys.readouterr().err and program.read_bytes() == b"mine"
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run_dir.spec, bare / RunDir.SPEC)
    assert main(["export", str(bare), "--out", str(tmp_path / "h.pt2")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such checkpoint" in err[0]
    assert not (tmp_path / "h.pt2").exists() and not (tmp_path / "h.json").exists()


def test_multi_output_generator_exports_every_output_in_order(tmp_path, mnist_root):
    spec = tiny_spec(
        dataset={"type": "mnist_tasks", "root": str(mnist_root), "tasks": ["edges"]},
        generator={"type": "multi_output", "z_dim": 8, "width": 8, "embed_dim": 4,
                   "outputs": ["image", "edges"]},
    )  # fmt: skip
    spec["train"] = {**spec["train"], "steps": 3}
    spec["log"] = {**spec["log"], "tensorboard": False}
    run = tmp_path / "run"
    assert main(["run", str(write_spec(tmp_path / "s.json", spec)), "--out", str(run)]) == 0
    program = tmp_path / "g.pt2"
    assert main(["export", str(run), "--out", str(program)]) == 0
    meta = json.loads((tmp_path / "g.json").read_text())
    assert [o["name"] for o in meta["outputs"]] == ["image", "edges"]
    flags = ["--labels", "1,2", "--n", "2"]
    assert main(["sample", str(run), "--out", str(tmp_path / "s"), "--format", "npz", *flags]) == 0
    assert main(["sample", str(run), "--out", str(tmp_path / "g"), *flags]) == 0
    assert sorted(p.name for p in (tmp_path / "g").iterdir()) == ["grid.png", "grid_edges.png"]
    npz = tmp_path / "s" / "samples.npz"
    loader = tmp_path / "loader.py"
    loader.write_text(LOADER)
    got = tmp_path / "got.npz"
    subprocess.run([sys.executable, str(loader), str(program), str(npz), str(got)], check=True)
    want = np.load(npz)
    np.testing.assert_array_equal(np.load(got)["arr_0"], want["output_image"])
    np.testing.assert_array_equal(np.load(got)["arr_1"], want["output_edges"])
