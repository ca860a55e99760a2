"""Decode-once cache: built once, reused, rebuilt on change, atomic under a kill, fallbacks."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mtbench import decode_cache as dc
from mtbench.errors import UserError


def write_images(folder: Path, n: int) -> list[dc.Item]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (10, 6), (20 * i, 5, 200)).save(folder / f"{i:03d}.png")
    return [dc.Item(str(folder / f"{i:03d}.png")) for i in range(n)]


@pytest.fixture
def counted(monkeypatch) -> list[str]:
    seen: list[str] = []
    monkeypatch.setattr(dc, "DECODE_HOOKS", [lambda item: seen.append(item.path)])
    return seen


RECIPE = dc.Recipe(8, 3)


def test_built_once_reused_then_rebuilt_when_one_file_changes(tmp_path, counted):
    items = write_images(tmp_path / "img", 5)
    labels = np.arange(5) % 2
    first = dc.load_or_build(items, labels, RECIPE, tmp_path / "cache", workers=1)
    assert first.built and len(counted) == 5 and first.images.shape == (5, 3, 8, 8)
    assert (first.images[:, 2] == 200).all() and first.images[3, 0, 0, 0] == 60
    again = dc.load_or_build(items, labels, RECIPE, tmp_path / "cache", workers=1)
    assert not again.built and len(counted) == 5 and again.key == first.key
    assert np.array_equal(np.asarray(again.images), np.asarray(first.images))

    Image.new("RGB", (10, 6), (1, 2, 3)).save(items[2].path)
    os.utime(items[2].path, ns=(1, 1))  # a changed file with an old mtime: its size differs
    changed = dc.load_or_build(items, labels, RECIPE, tmp_path / "cache", workers=1)
    assert changed.built and changed.key != first.key and len(counted) == 10
    assert changed.images[2, 0, 0, 0] == 1


def test_added_file_other_labels_or_recipe_give_new_keys(tmp_path):
    items = write_images(tmp_path / "img", 3)
    key = dc.content_key(items, None, RECIPE)
    assert dc.content_key(items, None, RECIPE) == key
    more = write_images(tmp_path / "img", 4)
    assert dc.content_key(more, None, RECIPE) != key
    assert dc.content_key(items, np.zeros(3), RECIPE) != key
    assert dc.content_key(items, None, dc.Recipe(8, 1)) != key
    assert dc.content_key(items, None, dc.Recipe(16, 3)) != key


def test_two_workers_decode_the_same_images(tmp_path):
    items = write_images(tmp_path / "img", 7)
    dc.CHUNK, old = 2, dc.CHUNK
    try:
        two = dc.load_or_build(items, None, RECIPE, tmp_path / "a", workers=2)
    finally:
        dc.CHUNK = old
    one = dc.decode_all(items, RECIPE)
    assert np.array_equal(np.asarray(two.images), one)


BUILDER = """
import sys, time
from mtbench import decode_cache as dc
dc.DECODE_HOOKS.append(lambda item: time.sleep(0.2))
items = [dc.Item(p) for p in sys.argv[2:]]
dc.load_or_build(items, None, dc.Recipe(8, 3), __import__("pathlib").Path(sys.argv[1]), 1)
"""


def test_a_killed_builder_leaves_no_half_cache(tmp_path, counted):
    items = write_images(tmp_path / "img", 40)
    root = tmp_path / "cache"
    cmd = [sys.executable, "-c", BUILDER, str(root), *[i.path for i in items]]
    proc = subprocess.Popen(cmd)
    deadline = time.time() + 60
    while not list(root.glob(".tmp-*/images.npy")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    key = dc.content_key(items, None, dc.Recipe(8, 3))
    assert list(root.glob(".tmp-*")) and not (root / key).exists()  # only the temp folder
    built = dc.load_or_build(items, None, dc.Recipe(8, 3), root, workers=1)
    assert built.built and len(counted) == 40 and (root / key / dc.MANIFEST).is_file()
    assert not list(root.glob(".tmp-*"))  # the dead builder's temp folder is gone


def test_unwritable_cache_root_decodes_in_memory_with_a_warning(tmp_path, caplog):
    items = write_images(tmp_path / "img", 2)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="mtbench"):
        d = dc.load_or_build(items, None, RECIPE, blocker / "cache", workers=1)
    assert d.where == "memory" and d.images.shape == (2, 3, 8, 8)
    assert "cannot write the decoded-image cache" in caplog.text
    assert "MTBENCH_DATA_CACHE" in caplog.text and blocker.read_text() == "not a folder"


@pytest.mark.parametrize("content", [b"", b"not a png at all"], ids=["zero-byte", "corrupt"])
def test_bad_images_name_the_file_and_what_to_do(tmp_path, content):
    items = write_images(tmp_path / "img", 3)
    Path(items[1].path).write_bytes(content)
    with pytest.raises(UserError) as err:
        dc.load_or_build(items, None, RECIPE, tmp_path / "cache", workers=2)
    line = str(err.value)
    assert line.startswith(items[1].path + ":") and ("remove" in line)
    assert not list((tmp_path / "cache").iterdir())  # nothing half-built is left


def test_a_full_disk_during_the_build_is_one_line_and_keeps_nothing(tmp_path, monkeypatch):
    import errno

    items = write_images(tmp_path / "img", 3)

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "cache" / "x"))

    monkeypatch.setattr(dc, "decode_into", full)
    with pytest.raises(UserError, match="No space left on device while writing the decoded"):
        dc.load_or_build(items, None, RECIPE, tmp_path / "cache", workers=1)
    assert not list((tmp_path / "cache").iterdir())
