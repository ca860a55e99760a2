"""Decode a file-based data set once: a uint8 ``.npy`` memmap, its labels and a manifest.

The cache of a list of images lives in ``<root>/<key>/`` where the key is a SHA-256 of the
preprocessing (size, crop, channels), the labels, and every image's path, size and
modification time (for a zip member: the archive's size and mtime and the member's size and
CRC), so an added, removed or changed file gives a new key and a stale cache cannot be read.
It is built by worker processes into ``<root>/.tmp-<key>-<pid>/`` and renamed into place
when complete: a builder killed midway leaves only its temp folder, which the next build
removes. ``root`` is ``$MTBENCH_DATA_CACHE``, else ``$MTBENCH_CACHE/decoded``, else
``~/.cache/mtbench/decoded``. When the root cannot be written the images are decoded in
memory, with a warning.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from mtbench.errors import UserError

log = logging.getLogger("mtbench")

VERSION = 1  # bump when the decoding itself changes: old caches then get new keys
MODES = {1: "L", 3: "RGB"}
CHUNK = 256  # images per task handed to a worker
IMAGES, LABELS, MANIFEST = "images.npy", "labels.npy", "manifest.json"

# Called with each Item as it is decoded, in the process that decodes it (tests count decodes
# with decode_workers=1, which decodes in the calling process).
DECODE_HOOKS: list[Callable[[Item], None]] = []


@dataclass(frozen=True)
class Item:
    """One image: a file, or a member of a zip archive."""

    path: str
    member: str | None = None

    def name(self) -> str:
        return f"{self.path}:{self.member}" if self.member else self.path


@dataclass(frozen=True)
class Recipe:
    """How every image is preprocessed (part of the key)."""

    size: int
    channels: int
    crop: str = "centre crop to a square, bicubic resize"


def cache_root(configured: str | None = None) -> Path:
    """Where decoded caches live: the config, else the environment, else ~/.cache/mtbench."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("MTBENCH_DATA_CACHE"):
        return Path(os.environ["MTBENCH_DATA_CACHE"]).expanduser()
    return Path(os.environ.get("MTBENCH_CACHE") or "~/.cache/mtbench").expanduser() / "decoded"


def content_key(items: list[Item], labels: np.ndarray | None, recipe: Recipe) -> str:
    """SHA-256 of the recipe, the labels and each image's identity (path, size, mtime)."""
    h = hashlib.sha256(json.dumps({"v": VERSION, **asdict(recipe)}).encode())
    h.update(b"none" if labels is None else np.ascontiguousarray(labels, np.int64).tobytes())
    archives: dict[str, dict[str, zipfile.ZipInfo]] = {}
    for item in items:
        h.update(_identity(item, archives).encode())
    return h.hexdigest()[:32]


def _identity(item: Item, archives: dict) -> str:
    st = os.stat(item.path)
    if item.member is None:
        return f"{item.path}\0{st.st_size}\0{st.st_mtime_ns}\n"
    if item.path not in archives:
        with zipfile.ZipFile(item.path) as z:
            archives[item.path] = {i.filename: i for i in z.infolist()}
    info = archives[item.path][item.member]
    member = f"{item.member}\0{info.file_size}\0{info.CRC}"
    return f"{item.path}\0{st.st_size}\0{st.st_mtime_ns}\0{member}\n"


# ----------------------------------------------------------------------------- decoding


def decode(item: Item, recipe: Recipe) -> np.ndarray:
    """One image as uint8 (channels, size, size); a UserError naming the file when unreadable."""
    for hook in DECODE_HOOKS:
        hook(item)
    raw = _read_bytes(item)
    if not raw:
        raise UserError(f"{item.name()}: is empty (0 bytes); re-copy or remove this image")
    try:
        with warnings.catch_warnings():  # past PIL's pixel limit is an error, never a warning
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as img:
                img = ImageOps.exif_transpose(img).convert(MODES[recipe.channels])
                size = (recipe.size, recipe.size)
                img = ImageOps.fit(img, size, method=Image.Resampling.BICUBIC)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UserError(f"{item.name()}: {exc}; shrink or remove this image") from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise UserError(
            f"{item.name()}: cannot read this image ({exc}); fix or remove it"
        ) from None
    array = np.asarray(img, dtype=np.uint8).reshape(recipe.size, recipe.size, recipe.channels)
    return array.transpose(2, 0, 1)


_ZIPS: dict[str, zipfile.ZipFile] = {}  # open archives of this process


def _read_bytes(item: Item) -> bytes:
    try:
        if item.member is None:
            return Path(item.path).read_bytes()
        if item.path not in _ZIPS:
            _ZIPS[item.path] = zipfile.ZipFile(item.path)
        return _ZIPS[item.path].read(item.member)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise UserError(f"{item.name()}: cannot be read ({exc}); check the file") from None


def _decode_chunk(path: str, start: int, items: list[Item], recipe: Recipe) -> int:
    """Decode ``items`` into rows ``start:`` of the memmap at ``path`` (runs in a worker)."""
    out = np.load(path, mmap_mode="r+")
    for i, item in enumerate(items):
        out[start + i] = decode(item, recipe)
    out.flush()
    return len(items)


def decode_into(out_path: str, items: list[Item], recipe: Recipe, workers: int) -> None:
    """Fill the memmap at ``out_path`` with every image, ``workers`` processes, a progress bar."""
    chunks = [(s, items[s : s + CHUNK]) for s in range(0, len(items), CHUNK)]
    bar = tqdm(total=len(items), desc="decoding images", unit="img", disable=None, leave=False)
    with bar:
        if workers <= 1:
            for s, part in chunks:
                bar.update(_decode_chunk(out_path, s, part, recipe))
            return
        with ProcessPoolExecutor(workers) as pool:
            futures = [pool.submit(_decode_chunk, out_path, s, p, recipe) for s, p in chunks]
            try:
                for f in futures:
                    bar.update(f.result())
            except BaseException:  # a bad image (UserError) or Ctrl-C: stop the rest now
                pool.shutdown(wait=False, cancel_futures=True)
                raise


# ----------------------------------------------------------------------------- the cache


@dataclass
class Decoded:
    """Decoded images (N, C, S, S) uint8, memory-mapped from the cache or in memory."""

    images: np.ndarray
    labels: np.ndarray | None
    key: str
    where: str  # the cache folder, or "memory"
    built: bool  # decoded now (False: read from the cache)


def default_workers() -> int:
    """Decode processes when the config names none: the CPU cores, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))


def decode_set(
    items: list[Item],
    labels: np.ndarray | None,
    recipe: Recipe,
    cache: bool = True,
    cache_dir: str | None = None,
    workers: int | None = None,
) -> Decoded:
    """What file-based data sets call: decoded images through the cache, or in memory."""
    workers = workers or default_workers()
    if not cache:
        key = content_key(items, labels, recipe)
        return Decoded(decode_all(items, recipe), labels, key, "memory", True)
    return load_or_build(items, labels, recipe, cache_root(cache_dir), workers)


def decode_all(items: list[Item], recipe: Recipe) -> np.ndarray:
    """Every image decoded in this process, stacked (no cache)."""
    shape = (0, recipe.channels, recipe.size, recipe.size)
    return np.stack([decode(i, recipe) for i in items]) if items else np.zeros(shape, np.uint8)


def load_or_build(
    items: list[Item],
    labels: np.ndarray | None,
    recipe: Recipe,
    root: Path,
    workers: int,
) -> Decoded:
    """The decoded images of ``items``: from the cache when there, else built into it."""
    key = content_key(items, labels, recipe)
    shape = (len(items), recipe.channels, recipe.size, recipe.size)
    manifest = {"recipe": asdict(recipe)}
    manifest["files"] = [i.name() for i in items[:5]] + (["..."] if len(items) > 5 else [])
    log.info("decoding %d images (%d workers)", len(items), workers)
    return cached_array(
        key, shape, labels, root, manifest, lambda path: decode_into(path, items, recipe, workers)
    )


def cached_array(
    key: str,
    shape: tuple[int, ...],
    labels: np.ndarray | None,
    root: Path,
    manifest: dict,
    fill: Callable[[str], None],
) -> Decoded:
    """The uint8 array cached under ``key``; else ``fill`` writes it (given the .npy path of
    a memmap of ``shape``) into a temp folder that is renamed into place when complete."""
    final = root / key
    if (final / MANIFEST).is_file():
        return Decoded(np.load(final / IMAGES, mmap_mode="c"), labels, key, str(final), False)
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = _fresh_tmp(root, key)
    except OSError as exc:
        return _in_memory(shape, labels, fill, key, root, exc)
    try:
        _build(tmp, shape, labels, fill, {"key": key, **manifest})
        _publish(tmp, final)
    except OSError as exc:
        raise UserError(
            f"{exc.filename or root}: {exc.strerror or exc} while writing the decoded-image "
            "cache (nothing was kept); free space or set MTBENCH_DATA_CACHE to another folder"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Decoded(np.load(final / IMAGES, mmap_mode="c"), labels, key, str(final), True)


def read_cached(root: Path, key: str) -> tuple[Decoded, dict] | None:
    """The complete cache ``key`` under ``root`` and its manifest, or None when absent."""
    final = root / key
    try:
        manifest = json.loads((final / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    labels = np.load(final / LABELS) if (final / LABELS).is_file() else None
    images = np.load(final / IMAGES, mmap_mode="c")
    return Decoded(images, labels, key, str(final), False), manifest


def file_key(paths: list[Path], extra: dict) -> str:
    """SHA-256 of ``extra`` and each file's path, size and mtime (for arrays read from files)."""
    h = hashlib.sha256(json.dumps({"v": VERSION, **extra}, sort_keys=True).encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def _fresh_tmp(root: Path, key: str) -> Path:
    """A new temp folder for ``key``, after removing those of builders that died."""
    for old in root.glob(f".tmp-{key}-*"):
        if not _alive(old.name.rsplit("-", 1)[-1]):
            shutil.rmtree(old, ignore_errors=True)
    tmp = root / f".tmp-{key}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def _alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _build(tmp: Path, shape, labels: np.ndarray | None, fill, manifest: dict) -> None:
    np.lib.format.open_memmap(tmp / IMAGES, mode="w+", dtype=np.uint8, shape=shape).flush()
    fill(str(tmp / IMAGES))
    if labels is not None:
        np.save(tmp / LABELS, labels)
    manifest = {**manifest, "n": shape[0], "shape": list(shape), "version": VERSION}
    (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished temp folder into place; another builder may have won the race."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not (final / MANIFEST).is_file():
            raise


def _in_memory(shape, labels, fill, key: str, root: Path, exc: OSError) -> Decoded:
    """Decode without a cache (the root is not writable), warning that every run decodes;
    the workers write into a temporary file that is then read into memory."""
    log.warning(
        f"{root}: cannot write the decoded-image cache ({exc.strerror or exc}); decoding "
        "in memory on every run: set MTBENCH_DATA_CACHE to a writable folder"
    )
    with tempfile.TemporaryDirectory(prefix="mtbench-decode-") as tmp:
        path = Path(tmp) / IMAGES
        np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape).flush()
        fill(str(path))
        images = np.load(path)
    return Decoded(images, labels, key, "memory", True)
