"""stylegan_zip: dataset_tool.py zips and folders, with and without dataset.json; bad input."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import tiny_spec, write_spec
from PIL import Image

from mtbench.cli import main
from mtbench.errors import UserError
from mtbench_plugins.datasets.stylegan_zip import StyleGANZip


def png(value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (value, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


def names(n: int) -> list[str]:
    """File names as dataset_tool.py writes them: 1,000 per numbered folder."""
    return [f"{i // 1000:05d}/img{i:08d}.png" for i in range(n)]


def write_zip(path: Path, n: int, labels: list | None | str = "none") -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for i, name in enumerate(names(n)):
            z.writestr(name, png(10 * i))
        if labels != "none":
            z.writestr("dataset.json", json.dumps({"labels": labels}))
    return path


def load(path: Path, **cfg):
    plugin = StyleGANZip(StyleGANZip.Config(path=str(path), size=8, eval_fraction=0.25, **cfg))
    return plugin.info(), plugin.load()


def pixels_and_labels(splits) -> dict[int, int | None]:
    out = {}
    for part in (splits.train, splits.eval):
        for k in range(len(part)):
            label = None if part.labels is None else int(part.labels[k])
            out[int(part.images[k, 0, 0, 0])] = label
    return out


def test_zip_with_labels(tmp_path):
    labels = [[name, i % 3] for i, name in enumerate(names(8))]
    info, splits = load(write_zip(tmp_path / "d.zip", 8, labels))
    assert (info.num_classes, info.size, len(splits.train), len(splits.eval)) == (3, 8, 6, 2)
    assert pixels_and_labels(splits) == {10 * i: i % 3 for i in range(8)}
    assert splits.train.images.dtype == torch.uint8


def test_zip_without_labels_and_null_labels_are_unconditional(tmp_path):
    for labels, name in (("none", "a.zip"), (None, "b.zip")):
        info, splits = load(write_zip(tmp_path / name, 4, labels))
        assert info.num_classes == 0 and splits.train.labels is None
        assert set(pixels_and_labels(splits)) == {0, 10, 20, 30}


def test_folder_layout_reads_the_same(tmp_path):
    labels = [[name, i % 2] for i, name in enumerate(names(4))]
    archive = write_zip(tmp_path / "d.zip", 4, labels)
    folder = tmp_path / "folder"
    with zipfile.ZipFile(archive) as z:
        z.extractall(folder)
    _, from_zip = load(archive)
    _, from_folder = load(folder)
    assert pixels_and_labels(from_zip) == pixels_and_labels(from_folder)


@pytest.mark.parametrize(
    "case, expected",
    [
        ("not_a_zip", "is not a zip archive"),
        ("empty_zip", "holds no images PIL can read"),
        ("missing_files", "names 1 files that are not in the data set (first: 00000/gone.png)"),
        ("unlabelled", "has no label for 1 images (first: 00000/img00000002.png)"),
        ("negative", "label -1 is negative"),
        ("out_of_range", "label 4 is out of range for num_classes 3"),
        ("zero_byte", "img00000001.png: is empty (0 bytes); re-copy or remove this image"),
    ],
)
def test_bad_input_is_one_line(tmp_path, case, expected):
    path, cfg = tmp_path / "d.zip", {}
    labels = [[name, 0] for name in names(3)]
    if case == "not_a_zip":
        path.write_text("hello")
    elif case == "empty_zip":
        write_zip(path, 0)
    elif case == "missing_files":
        write_zip(path, 3, [*labels, ["00000/gone.png", 1]])
    elif case == "unlabelled":
        write_zip(path, 3, labels[:2])
    elif case == "negative":
        write_zip(path, 3, [[n, -1] for n in names(3)])
    elif case == "out_of_range":
        write_zip(path, 3, [*labels[:2], [names(3)[2], 4]])
        cfg = {"num_classes": 3}
    elif case == "zero_byte":
        with zipfile.ZipFile(path, "w") as z:
            for i, name in enumerate(names(3)):
                z.writestr(name, b"" if i == 1 else png(i))
    with pytest.raises(UserError) as err:
        load(path, **cfg)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_cli_exit_2_for_a_zip_that_is_not_a_zip(tmp_path, capsys):
    (tmp_path / "d.zip").write_text("hello")
    s = tiny_spec(dataset={"type": "stylegan_zip", "path": str(tmp_path / "d.zip"), "size": 16})
    s["discriminator"]["heads"] = [{"type": "adversarial"}]
    s["out"] = str(tmp_path / "run")
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a zip archive" in err[0], err
    assert not (tmp_path / "run").exists() and (tmp_path / "d.zip").read_text() == "hello"
