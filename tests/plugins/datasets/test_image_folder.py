"""image_folder data set: classes from sub-folders, shapes and pixels, greyscale, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from mtbench.errors import UserError
from mtbench_plugins.datasets.image_folder import ImageFolder


def write_folder(root: Path, counts: dict[str, int], size=(12, 8), mode="RGB") -> None:
    for k, (name, n) in enumerate(counts.items()):
        (root / name).mkdir(parents=True)
        for i in range(n):
            colour = (40 * k, 10 * i, 200) if mode == "RGB" else 40 * k + i
            Image.new(mode, size, colour).save(root / name / f"{i:02d}.png")


def test_image_folder_classes_shapes_and_pixels(tmp_path):
    write_folder(tmp_path, {"cat": 3, "ant": 2, "bee": 5})
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    plugin = ImageFolder(ImageFolder.Config(root=str(tmp_path), size=16, eval_fraction=0.2))
    info, splits = plugin.info(), plugin.load()
    assert (info.channels, info.size, info.num_classes) == (3, 16, 3)
    assert info.class_names == ("ant", "bee", "cat")
    assert (len(splits.train), len(splits.eval)) == (8, 2)
    assert splits.train.images.shape[1:] == (3, 16, 16)
    assert splits.train.images.dtype == torch.uint8 and splits.train.labels.dtype == torch.int64
    images = torch.cat([splits.train.images, splits.eval.images])
    labels = torch.cat([splits.train.labels, splits.eval.labels])
    assert torch.bincount(labels).tolist() == [2, 5, 3]
    # solid images stay solid: red is 40 * (index of the folder as written), blue 200
    written_index = {0: 1, 1: 2, 2: 0}  # ant, bee, cat -> order in write_folder
    for img, lab in zip(images, labels):
        assert (img[0] == 40 * written_index[int(lab)]).all() and (img[2] == 200).all()
    assert splits.provenance["classes"] == ["ant", "bee", "cat"]


def test_image_folder_greyscale_unconditional_and_deterministic(tmp_path):
    write_folder(tmp_path, {"only": 6}, size=(20, 30), mode="L")
    cfg = ImageFolder.Config(root=str(tmp_path), size=8, channels=1, conditional=False)
    a, b = ImageFolder(cfg).load(), ImageFolder(cfg).load()
    assert ImageFolder(cfg).info().num_classes == 0
    assert a.train.labels is None and a.train.images.shape[1:] == (1, 8, 8)
    assert torch.equal(a.train.images, b.train.images) and torch.equal(a.eval.images, b.eval.images)
    other = ImageFolder(cfg.model_copy(update={"split_seed": 3})).load()
    assert not torch.equal(a.eval.images, other.eval.images)


def test_image_folder_errors_name_the_folder(tmp_path):
    assert ImageFolder.Config(root="x").size == 32
    with pytest.raises(ValueError):
        ImageFolder.Config()  # root is required
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as err:
        ImageFolder(ImageFolder.Config(root=str(missing))).info()
    assert str(missing) in str(err.value)
    with pytest.raises(UserError, match="no class subfolders"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path))).load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty' has no images"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path))).load()
    (tmp_path / "empty" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="broken.png: cannot read"):
        ImageFolder(ImageFolder.Config(root=str(tmp_path))).load()


def test_image_folder_decodes_once_into_the_cache(tmp_path, monkeypatch):
    from mtbench import decode_cache

    seen = []
    monkeypatch.setattr(decode_cache, "DECODE_HOOKS", [seen.append])
    write_folder(tmp_path / "img", {"a": 3, "b": 4})
    cfg = ImageFolder.Config(
        root=str(tmp_path / "img"), size=8, cache_dir=str(tmp_path / "c"), decode_workers=1
    )
    first = ImageFolder(cfg).load()
    assert len(seen) == 7 and first.provenance["decoded"].startswith(str(tmp_path / "c"))
    second = ImageFolder(cfg).load()
    assert len(seen) == 7  # read from the cache, nothing decoded
    assert torch.equal(first.train.images, second.train.images)
    assert torch.equal(first.eval.labels, second.eval.labels)
    plain = ImageFolder(cfg.model_copy(update={"cache": False})).load()
    assert plain.provenance["decoded"] == "memory" and len(seen) == 14
    assert torch.equal(plain.train.images, first.train.images)


def write_csv_set(root: Path, n: int = 8) -> Path:
    (root / "imgs").mkdir(parents=True)
    lines = ["path,label,smiling,age"]
    for i in range(n):
        Image.new("RGB", (8, 8), (10 * i, 0, 0)).save(root / "imgs" / f"{i}.png")
        lines.append(f"imgs/{i}.png,{'cat' if i % 2 else 'dog'},{1 if i % 3 else -1},{i / 2}")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root / "labels.csv"


def test_csv_labels_and_targets(tmp_path):
    csv = write_csv_set(tmp_path)
    cfg = ImageFolder.Config(root=str(tmp_path), labels_csv=str(csv), size=8, eval_fraction=0.25)
    info, splits = ImageFolder(cfg).info(), ImageFolder(cfg).load()
    assert info.class_names == ("cat", "dog") and info.num_classes == 2
    assert info.targets["smiling"].kind == "class" and info.targets["smiling"].num_classes == 2
    assert info.targets["age"].kind == "continuous" and info.targets["age"].dim == 1
    for part in (splits.train, splits.eval):
        for k in range(len(part)):
            i = int(part.images[k, 0, 0, 0]) // 10
            assert int(part.labels[k]) == (0 if i % 2 else 1)
            assert int(part.targets["smiling"][k]) == (1 if i % 3 else 0)
            assert float(part.targets["age"][k, 0]) == i / 2


def test_csv_bad_input(tmp_path):
    csv = write_csv_set(tmp_path)
    csv.write_text(csv.read_text() + "imgs/gone.png,cat,1,0\n")
    cfg = ImageFolder.Config(root=str(tmp_path), labels_csv=str(csv), size=8)
    with pytest.raises(UserError, match="names 1 files that are not under .*first: imgs/gone.png"):
        ImageFolder(cfg).info()
    csv.write_text("path,label\nimgs/0.png,5\nimgs/1.png,1\n")
    with pytest.raises(UserError, match="label 5 is out of range for num_classes 3"):
        ImageFolder(cfg.model_copy(update={"num_classes": 3})).info()
    csv.write_text("path\n")
    with pytest.raises(UserError, match="needs a header and rows"):
        ImageFolder(cfg).info()


def test_csv_targets_feed_the_attribute_head(tmp_path):
    from helpers import tiny_spec, write_spec

    from mtbench.cli import main

    csv = write_csv_set(tmp_path / "data", n=12)
    dataset = {"type": "image_folder", "root": str(tmp_path / "data"), "labels_csv": str(csv)}
    s = tiny_spec(dataset={**dataset, "size": 16}, out=str(tmp_path / "run"))
    s["discriminator"]["heads"] = [{"type": "adversarial"}, {"type": "attribute"}]
    s["train"]["steps"] = 2
    s["eval"] = {"metrics": []}
    assert main(["run", str(write_spec(tmp_path / "s.json", s))]) == 0
    import pandas as pd

    cols = pd.read_parquet(tmp_path / "run" / "steps.parquet").columns
    assert any("smiling" in c for c in cols) and any("age" in c for c in cols)
