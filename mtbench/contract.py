"""The plugin contract checked once at compose time, from metadata and one probe pass.

Each check reads shapes and dtypes only (no values: no host-device sync) and raises a
``ContractError`` saying "plugin X (kind, package Y): what is wrong; what to do", where a
raw traceback would otherwise name no plugin.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mtbench.api import DataInfo, DataSplits, TrunkPlugin
from mtbench.errors import ContractError


def _fail(who: str, wrong: str, todo: str) -> None:
    raise ContractError(f"{who}: {wrong}; {todo}")


def check_splits(splits: DataSplits, info: DataInfo, who: str) -> None:
    """``load()`` gives uint8 (N, C, H, W) images of the size ``info()`` declares."""
    want = (info.channels, info.size, info.size)
    for split, data in (("train", splits.train), ("eval", splits.eval)):
        if data is None:
            continue
        images = data.images
        if not isinstance(images, Tensor):
            _fail(who, f"load() gave {split} images as {type(images).__name__}", "return a tensor")
        if images.dtype != torch.uint8:
            _fail(
                who,
                f"load() gave {split} images of dtype {images.dtype}, not torch.uint8",
                "return images as uint8 in [0, 255] (the core scales them to [-1, 1])",
            )
        if images.ndim != 4 or tuple(images.shape[1:]) != want:
            _fail(
                who,
                f"load() gave {split} images of shape {tuple(images.shape)} but info() declares "
                f"(N, {', '.join(map(str, want))}) (channels, size, size)",
                "make info() and load() agree",
            )
        if data.labels is not None and tuple(data.labels.shape) != (images.shape[0],):
            _fail(
                who,
                f"load() gave {split} labels of shape {tuple(data.labels.shape)} for "
                f"{images.shape[0]} images",
                "return one int64 label per image, or None when unconditional",
            )


def check_derived(out: object, n: int, shape: tuple[int, ...], target: str, who: str) -> None:
    """``derive(images, target)`` on ``n`` images gives None or uint8 (n, *shape)."""
    want = (n, *shape)
    if out is None:
        return
    if not isinstance(out, Tensor) or out.dtype != torch.uint8 or tuple(out.shape) != want:
        _fail(
            who,
            f"derive(images, {target!r}) returned {_what(out)}, expected uint8 of shape {want}",
            "return the target as load() makes it (or None when it is not derived)",
        )


def check_feature_dim(trunk: TrunkPlugin, who: str) -> int:
    """A trunk sets an int ``feature_dim`` in ``__init__``; heads are sized from it."""
    dim = getattr(trunk, "feature_dim", None)
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        _fail(
            who,
            f"feature_dim is {dim!r} after __init__"
            if hasattr(trunk, "feature_dim")
            else "never sets feature_dim",
            "set self.feature_dim (a positive int: the width of forward's output) in __init__",
        )
    return dim


def check_z_dim(generator: object, who: str) -> None:
    """A generator sets an int ``z_dim`` (its noise width before heads' codes)."""
    z_dim = getattr(generator, "z_dim", None)
    if isinstance(z_dim, bool) or not isinstance(z_dim, int) or z_dim < 1:
        _fail(who, f"z_dim is {z_dim!r}", "set self.z_dim (a positive int) in __init__")


def check_features(features: Tensor | None, batch: int, dim: int, who: str) -> None:
    """The trunk's output on a probe batch is (B, feature_dim), floating point."""
    if features is None:
        return
    if not isinstance(features, Tensor) or not features.is_floating_point():
        _fail(who, f"forward returned {_what(features)}", "return a float tensor (B, feature_dim)")
    if tuple(features.shape) != (batch, dim):
        _fail(
            who,
            f"forward returned features of shape {tuple(features.shape)} on {batch} images but "
            f"feature_dim is {dim}",
            "set feature_dim to forward's output width, or flatten to (B, feature_dim)",
        )


def check_outputs(out: object, declared: dict[str, tuple], batch: int, who: str) -> None:
    """The generator returns a dict holding every declared output, float (B, C, H, W)."""
    if not isinstance(out, dict) or "image" not in out:
        _fail(who, f"forward returned {_what(out)}", 'return a dict with at least "image"')
    for name, shape in declared.items():
        got = out.get(name)
        want = (batch, *shape)
        if not isinstance(got, Tensor) or not got.is_floating_point() or got.shape != want:
            _fail(
                who,
                f"output {name!r} is {_what(got)}, expected a float tensor of shape {want}",
                "return outputs() shapes, in [-1, 1]",
            )


def check_terms(terms: object, player: str, who: str) -> None:
    """A head's terms: a dict of name -> floating-point scalar tensor."""
    method = f"{player}_terms"
    if not isinstance(terms, dict):
        _fail(who, f"{method} returned {_what(terms)}", "return a dict of name -> scalar tensor")
    for name, value in terms.items():
        if not isinstance(value, Tensor) or value.ndim != 0 or not value.is_floating_point():
            _fail(
                who,
                f"{method} term {name!r} is {_what(value)}, not a float scalar",
                "reduce it to one number per batch (e.g. .mean())",
            )


def _what(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"
