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
