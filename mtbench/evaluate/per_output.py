"""Per-output metrics: each scored generator output against the real targets of the split.

Output ``k`` is scored like the primary image, but in its own feature space: a domain
evaluator (``mtbench.evaluate.domain``) trained on the train split's real ``k`` images and
their labels, cached by content hash, so ``fid/image_2x`` compares 2x digits with 2x digits.
Rows are the fidelity rows with ``/<k>`` (``fid/edges``, ``kid/edges``, ``precision/edges``,
``density/edges``, ...) and ``accuracy/<k>``, with protocol columns ``output`` and ``target``.
Samples are generated once per evaluation; every output is scored from that one draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from mtbench import contract
from mtbench.api import DataInfo, DatasetPlugin, DataSplits, TensorData
from mtbench.evaluate import consistency, prdc, realstats
from mtbench.evaluate.catalogue import fidelity_metrics, real_side
from mtbench.evaluate.context import EvalContext, compute_metrics
from mtbench.evaluate.domain import PRIMARY, DomainModel, load_or_train, predict, primary_accuracy
from mtbench.evaluate.extractor import Extractor, domain_extractor
from mtbench.evaluate.hashing import data_digest
from mtbench.evaluate.spec import EvalSpec

NAN = math.nan
CLASS_INFO = 2.0  # an output carries class information when its evaluator beats chance 2x
# spec metric -> (row, key of its value in the fidelity results)
FIDELITY_ROWS = {
    "fid": ("fid",),
    "kid": ("kid",),
    "prc": ("precision", "recall", "f_score"),
    "dc": ("density", "coverage"),
}
Derive = Callable[[Tensor, str], Tensor | None]


PROBE = 2  # real images derive is probed on before training


def checked_derive(
    dataset: DatasetPlugin | None, real: TensorData, names: list[str], info: DataInfo
) -> Derive | None:
    """``dataset.derive``, probed on ``PROBE`` real images for every scored output (uint8 of
    the target's shape, or None), so a wrong derivation fails before training."""
    if dataset is None or not names:
        return None
    who = f"dataset {type(dataset).name!r}"
    images = real.images[:PROBE].cpu()
    for k in names:
        out = dataset.derive(images, k)
        contract.check_derived(out, len(images), info.targets[k].shape, k, who)
    return dataset.derive


@dataclass
class Target:
    """One scored output's real side: its target images, evaluator, statistics and floor."""

    name: str
    real: Tensor  # the real split's target images, uint8 (N, C, H, W), CPU
    domain: DomainModel
    extractor: Extractor
    accuracy: float  # its evaluator's accuracy on the eval split's real targets
    num_classes: int
    stats: realstats.RealStats | None
    floor: tuple[float, float] | None  # (MAE, PSNR) of real targets vs derive(real images)

    def carries_classes(self) -> bool:
        """Whether this target tells classes apart (its evaluator beats chance ``CLASS_INFO``x)."""
        return self.accuracy >= CLASS_INFO / max(self.num_classes, 1)


def target_info(info: DataInfo, shape: tuple[int, int, int]) -> DataInfo:
    """The DataInfo a target's domain evaluator is sized from: the target's shape, the labels."""
    return DataInfo(shape[0], shape[1], info.num_classes, info.class_names)


def prepare(
    name: str,
    data: DataSplits,
    real: TensorData,
    info: DataInfo,
    spec: EvalSpec,
    dirs: tuple[Path, Path],
    device: torch.device,
    derive: Derive | None,
) -> Target:
    """Train or load output ``name``'s evaluator, and load or cache its real statistics."""
    domain_dir, stats_root = dirs
    tinfo = target_info(info, info.targets[name].shape)
    train = TensorData(data.train.targets[name].cpu(), data.train.labels.cpu())
    domain = load_or_train(train, tinfo, spec.domain, domain_dir)
    ext = domain_extractor(domain)
    images = real.targets[name].cpu()
    floor = None
    derived = None if derive is None else derive(real.images.cpu(), name)
    if derived is not None:
        floor = consistency.distances(images, derived)
    accuracy = _held_out_accuracy(domain, data.eval, name, device, spec.batch_size)
    stats = _real_stats(images, real, ext, spec, stats_root, device)
    return Target(name, images, domain, ext, accuracy, info.num_classes, stats, floor)


def _held_out_accuracy(
    domain: DomainModel, held: TensorData | None, name: str, device: torch.device, bs: int
) -> float:
    if held is None or held.labels is None:
        return NAN
    return primary_accuracy(domain.net, TensorData(held.targets[name], held.labels), device, bs)


def _real_stats(
    images: Tensor,
    real: TensorData,
    ext: Extractor,
    spec: EvalSpec,
    stats_root: Path,
    device: torch.device,
) -> realstats.RealStats | None:
    """The target's real statistics for the spec's fidelity metrics (cached by content)."""
    metrics = real_side([m for m in fidelity_metrics() if m in spec.metrics and m != "isc"])
    if not metrics:
        return None
    digest = data_digest(TensorData(images, real.labels))
    stats = realstats.real_stats(
        images,
        ext,
        [ext.layer(m) for m in metrics],
        ext.layer("fid") if "fid" in metrics else None,
        device=device,
        batch_size=spec.batch_size,
        cache_root=stats_root,
        name=realstats.real_cache_name(digest, ext),
    )
    if "dc" in metrics:
        prdc.cached_radii(stats, ext.layer("dc"))
    return stats


@dataclass
class OutputSet:
    """One evaluation's generated outputs and their targets; metric functions read it."""

    fakes: dict[str, Tensor]  # scored output -> uint8 (N, C, H, W), from the same draw
    targets: dict[str, Target]
    derive: Derive | None = None
    _values: dict[str, dict] = field(default_factory=dict, repr=False)

    def rows(self, metric: str, ctx: EvalContext) -> list[dict]:
        """The per-output rows of spec metric ``metric`` (none for metrics without any)."""
        if metric in FIDELITY_ROWS:
            return [r for k in self.fakes for r in self._fidelity_rows(metric, k, ctx)]
        if metric == "accuracy" and ctx.fake_labels is not None:
            return [self._accuracy_row(k, ctx) for k in self.fakes]
        if metric == "consistency":
            return [r for k in self.fakes for r in self._consistency_rows(k, ctx)]
        return []

    def _row(self, ctx: EvalContext, metric: str, k: str, value: float, **extra) -> dict:
        t = self.targets[k]
        protocol = {"feature_extractor": "domain", "extractor_hash": t.domain.hash}
        protocol |= {"n_real": len(t.real), "output": k, "target": t.name}
        return ctx.row(f"{metric}/{k}", value, **(protocol | extra))

    def _fidelity(self, k: str, ctx: EvalContext) -> dict[str, tuple[float, float]]:
        """fid/kid/prc/dc of output ``k`` from one extraction (memoised per evaluation)."""
        if k not in self._values:
            t = self.targets[k]
            self._values[k] = compute_metrics(
                t.stats,
                self.fakes[k],
                t.extractor,
                [m for m in ctx.metrics if m in FIDELITY_ROWS],
                device=ctx.device,
                seed=ctx.seed,
                kid_subset_size=ctx.kid_subset_size,
                batch_size=ctx.batch_size,
            )
        return self._values[k]

    def _fidelity_rows(self, metric: str, k: str, ctx: EvalContext) -> list[dict]:
        vals = self._fidelity(k, ctx)
        return [
            self._row(ctx, name, k, vals[name][0], std=vals[name][1])
            for name in FIDELITY_ROWS[metric]
        ]

    def _accuracy_row(self, k: str, ctx: EvalContext) -> dict:
        """Conditional accuracy of output ``k`` under its target's evaluator, or NaN and why."""
        t = self.targets[k]
        if not t.carries_classes():
            reason = f"target {k!r} carries no class information (its evaluator: {t.accuracy:.3f})"
            return self._row(ctx, "accuracy", k, NAN, n_real=0, reason=reason)
        pred = predict(t.domain.net, self.fakes[k], ctx.device, ctx.batch_size)[PRIMARY]
        value = (pred.argmax(1) == ctx.fake_labels).double().mean().item()
        return self._row(ctx, "accuracy", k, value, n_real=0)

    def _consistency_rows(self, k: str, ctx: EvalContext) -> list[dict]:
        """MAE and PSNR of output ``k`` vs derive_k(generated image), and the real floor."""
        t = self.targets[k]
        derived = None if self.derive is None else self.derive(ctx.fake, k)
        none = {"feature_extractor": "none", "extractor_hash": ""}
        if derived is None or t.floor is None:
            why = {"reason": f"the data set declares no derivation of {k!r} from the image"}
            return [
                self._row(ctx, name, k, NAN, **none, **why, n_real=n)
                for name, n in zip(consistency.ROWS, (0, 0, len(t.real), len(t.real)))
            ]
        values = (*consistency.distances(self.fakes[k], derived), *t.floor)
        counts = ((0, len(ctx.fake)), (0, len(ctx.fake)), (len(t.real), 0), (len(t.real), 0))
        return [
            self._row(ctx, name, k, v, **none, n_real=nr, n_fake=nf)
            for name, v, (nr, nf) in zip(consistency.ROWS, values, counts)
        ]
