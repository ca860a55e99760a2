"""``mtbench sample``: images out of a run's checkpoint, conditioned as asked, seeded.

The EMA generator by default (``raw`` for the trained one), the same seed gives the same
images. Output as one PNG per image, one grid per generator output, or an ``.npz`` of the
uint8 images with the exact generator input (z, labels) that made them.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mtbench.data import to_uint8
from mtbench.errors import UserError
from mtbench.io import atomic_write_bytes
from mtbench.latent import GenInput, generator_input
from mtbench.layout import RunDir
from mtbench.registry import Registry
from mtbench.spec import Resolved

FORMATS = ("png", "grid", "npz")
NPZ = "samples.npz"
DEFAULT_N = 64


@dataclass
class Loaded:
    """A run's generator restored from a checkpoint, with what its inputs are drawn from."""

    r: Resolved
    trainer: object  # mtbench.train.loop.Trainer
    generator: torch.nn.Module
    step: int


def load_generator(run_dir: str | Path, registry: Registry, checkpoint: str, raw: bool) -> Loaded:
    """The run's networks from ``checkpoint`` (last or best, read as data only); its EMA
    generator unless ``raw`` (or the run kept no EMA)."""
    from mtbench.compose import compose
    from mtbench.train.loop import Trainer
    from mtbench.train.run import _missing_checkpoint, resolve_device, restore
    from mtbench.train.state import seed_everything

    rd = RunDir(Path(run_dir))
    if not rd.spec.is_file():
        raise UserError(f"{rd.root}: not a run folder (no {RunDir.SPEC})")
    ckpt = rd.last if checkpoint == "last" else rd.best
    if not ckpt.is_file():
        raise UserError(_missing_checkpoint(rd, checkpoint))
    r = _resolve(rd, registry)
    device = resolve_device(r.spec.train.device)
    seed_everything(r.spec.seed)
    trainer = Trainer.from_spec(r, compose(r, registry, device), device)
    restore(trainer, ckpt, device)
    generator = trainer.G if raw else trainer.sampler()
    return Loaded(r, trainer, generator.eval(), trainer.step)


def _resolve(rd: RunDir, registry: Registry) -> Resolved:
    from mtbench import spec as S

    data = S.read_json(rd.spec, "run spec")
    data.pop("meta", None)
    return S.resolve(data, registry)


def chosen_labels(
    num_classes: int, labels: list[int] | None, per_class: int | None, n: int | None
) -> tuple[Tensor | None, int]:
    """The label of every image (None: drawn) and images per grid row, from the flags."""
    if (labels is not None or per_class is not None) and not num_classes:
        raise UserError("--labels/--per-class: the run's data set is unconditional (no classes)")
    if per_class is not None:
        labels = list(range(num_classes))
        n = per_class
    if labels is None:
        return None, 8
    bad = [c for c in labels if not 0 <= c < num_classes]
    if bad:
        raise UserError(
            f"--labels: {bad[0]} is out of range; the run's data set has {num_classes} "
            f"classes (0-{num_classes - 1})"
        )
    per = n or 8
    return torch.tensor(labels).repeat_interleave(per), per


def parse_labels(text: str | None) -> list[int] | None:
    """``0,3,7`` -> [0, 3, 7]; one clear line for anything else."""
    if text is None:
        return None
    try:
        return [int(t) for t in text.split(",")]
    except ValueError:
        raise UserError(f"--labels: expected class numbers like 0,3,7, got {text!r}") from None


@torch.no_grad()
def draw(loaded: Loaded, labels: Tensor | None, n: int, seed: int) -> tuple[GenInput, dict]:
    """Generator input from its own seeded stream, and every output as uint8 NCHW."""
    t = loaded.trainer
    p = t.p
    gen = torch.Generator(t.device).manual_seed(seed)
    if labels is not None:
        labels = labels.to(t.device)
        n = len(labels)
    x = generator_input(n, t.G.z_dim, p.codes, p.conditions, p.source, gen, labels)
    out = loaded.generator(x.z, x.labels)
    return x, {name: to_uint8(v).cpu() for name, v in out.items()}


def check_out(out: str | Path, force: bool) -> Path:
    """Refuse an existing output folder unless ``force`` (then same-named files are replaced,
    nothing else in it is touched)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out: {out} is a file; pass a new folder")
    if out.exists() and not force:
        raise UserError(f"--out: {out} already exists; pass --force to write into it")
    return out


def sample(
    run_dir: str | Path,
    out: str | Path,
    checkpoint: str = "last",
    n: int | None = None,
    labels: str | None = None,
    per_class: int | None = None,
    seed: int | None = None,
    fmt: str = "grid",
    raw: bool = False,
    force: bool = False,
) -> tuple[Loaded, list[Path]]:
    """Check every argument, then draw and write; nothing is written on bad input."""
    from mtbench.registry import Registry

    folder = check_out(out, force)
    loaded = load_generator(run_dir, Registry.discover(), checkpoint, raw)
    chosen, per_row = chosen_labels(
        loaded.r.data_info.num_classes, parse_labels(labels), per_class, n
    )
    x, images = draw(loaded, chosen, n or DEFAULT_N, loaded.r.spec.seed if seed is None else seed)
    folder.mkdir(parents=True, exist_ok=True)
    return loaded, write(folder, fmt, x, images, per_row)


def write(out: Path, fmt: str, x: GenInput, images: dict[str, Tensor], per_row: int) -> list[Path]:
    """Write the samples in one format; returns the files written."""
    if fmt == "npz":
        arrays = {f"output_{k}": v.numpy() for k, v in images.items()}
        arrays["z"] = x.z.cpu().numpy()
        if x.labels is not None:
            arrays["labels"] = x.labels.cpu().numpy()
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write_bytes(out / NPZ, buf.getvalue())
        return [out / NPZ]
    if fmt == "grid":
        return [_png(out / _name("grid", k), _grid(v, per_row)) for k, v in images.items()]
    labels = [None] * len(x.z) if x.labels is None else x.labels.tolist()
    return [
        _png(out / _name(f"{i:05d}" + ("" if c is None else f"_c{c}"), k), img)
        for k, v in images.items()
        for i, (img, c) in enumerate(zip(v, labels))
    ]


def _name(stem: str, output: str) -> str:
    return f"{stem}.png" if output == "image" else f"{stem}_{output}.png"


def _grid(images: Tensor, per_row: int) -> Tensor:
    from torchvision.utils import make_grid

    return make_grid(images, nrow=per_row, padding=2)


def _png(path: Path, image: Tensor) -> Path:
    from PIL import Image

    array = image.permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[2] == 1 else array).save(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
    return path
