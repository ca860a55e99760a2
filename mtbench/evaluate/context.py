"""What metric functions read: the EvalContext of one evaluation and the torch-fidelity bridge.

fid/kid/isc/prc share one feature extraction per evaluation (``EvalContext.fidelity``), so
generated images pass the extractor once; torch-fidelity's metric functions get features in
memory, never a path (its file cache unpickles in full, code included). The metrics
themselves are declared in ``mtbench.evaluate.metrics``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch_fidelity
from torch import Tensor
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.metric_prc import prc_featuresdict_to_metric

from mtbench.api import DataInfo, TensorData
from mtbench.evaluate import prdc, realstats
from mtbench.evaluate.catalogue import fidelity_metrics, real_side
from mtbench.evaluate.domain import PRIMARY, DomainModel, predict
from mtbench.evaluate.extractor import Extractor
from mtbench.evaluate.realstats import RealStats

NAN = math.nan
CPU = torch.device("cpu")
# Our name -> (torch-fidelity key of the value, key of its std or None).
TF_KEYS: dict[str, tuple[str, str | None]] = {
    "fid": (torch_fidelity.KEY_METRIC_FID, None),
    "kid": (torch_fidelity.KEY_METRIC_KID_MEAN, torch_fidelity.KEY_METRIC_KID_STD),
    "isc": (torch_fidelity.KEY_METRIC_ISC_MEAN, torch_fidelity.KEY_METRIC_ISC_STD),
    "precision": (torch_fidelity.KEY_METRIC_PRECISION, None),
    "recall": (torch_fidelity.KEY_METRIC_RECALL, None),
    "f_score": (torch_fidelity.KEY_METRIC_F_SCORE, None),
    "density": ("density", None),  # mtbench.evaluate.prdc (torch-fidelity has no such metric)
    "coverage": ("coverage", None),
}


def compute_metrics(
    real: Tensor | RealStats | None,
    fake: Tensor,
    extractor: Extractor,
    metrics: Iterable[str],
    *,
    device: torch.device = CPU,
    seed: int = 0,
    kid_subset_size: int = 1000,
    batch_size: int = 500,
    cache_root: Path | None = None,
    real_cache_name: str | None = None,
) -> dict[str, tuple[float, float]]:
    """fid/kid/isc/prc of uint8 ``fake`` vs ``real`` (images, or their statistics): name ->
    (value, std), by torch-fidelity's metric functions on features mtbench extracted.

    Fakes are input1 and reals input2 (torch-fidelity's precision/recall convention); the real
    side is cached (in mtbench's own cache) only when ``cache_root`` and ``real_cache_name``
    are given. torch-fidelity never reads or writes a file here.
    """
    metrics = [m for m in fidelity_metrics() if m in set(metrics)]
    if not metrics:
        return {}
    layers = {m: extractor.layer(m) for m in metrics}
    fake_f = extractor.features(fake, sorted(set(layers.values())), device, batch_size)
    real_s = None
    if real_side(metrics):
        real_s = real if isinstance(real, RealStats) else None
        if real_s is None:
            real_s = realstats.real_stats(
                real,
                extractor,
                [layers[m] for m in real_side(metrics) if m != "fid"],
                layers.get("fid"),
                device=device,
                batch_size=batch_size,
                cache_root=cache_root,
                name=real_cache_name,
            )
    kw = {"rng_seed": seed, "kid_subset_size": kid_subset_size, "save_cpu_ram": True}
    out = from_features(fake_f, real_s, layers, **kw, verbose=False)
    return {
        name: (float(out[key]), NAN if std is None else float(out[std]))
        for name, (key, std) in TF_KEYS.items()
        if key in out
    }


def from_features(
    fake: dict[str, Tensor], real: RealStats | None, layers: dict[str, str], **kw: object
) -> dict[str, float]:
    """torch-fidelity's metric values (its keys) from fake features and real statistics."""
    out: dict[str, float] = {}
    if "isc" in layers:
        out |= isc_featuresdict_to_metric(fake, layers["isc"], **kw)
    if "fid" in layers:
        fake_stats = fid_featuresdict_to_statistics(fake, layers["fid"])
        out |= fid_statistics_to_metric(fake_stats, real.fid[layers["fid"]], False)
    if "kid" in layers:
        out |= kid_featuresdict_to_metric(fake, real.features, layers["kid"], **kw)
    if "prc" in layers:
        out |= prc_featuresdict_to_metric(fake, real.features, layers["prc"], **kw)
    if "dc" in layers:
        layer = layers["dc"]
        radii = prdc.cached_radii(real, layer)
        out |= prdc.density_coverage(real.features[layer], fake[layer], radii)
    return out


@dataclass
class EvalContext:
    """What one evaluation's metrics read; memoises the shared torch-fidelity call and the
    domain evaluator's outputs on the generated images."""

    fake: Tensor  # uint8 (N, C, H, W), CPU
    fake_labels: Tensor | None  # int64 (N,), CPU: the conditioning labels
    real: TensorData  # the real split, CPU
    real_digest: str
    info: DataInfo
    extractor: Extractor
    domain: DomainModel | None
    metrics: list[str]  # every metric of this evaluation (to batch the torch-fidelity call)
    device: torch.device
    seed: int
    kid_subset_size: int
    batch_size: int
    cache_root: Path | None  # mtbench's real-statistics cache (None: compute, don't cache)
    fake_conditions: dict[str, Tensor] = field(default_factory=dict)  # (N, ...) CPU values
    real_stats: dict[int | None, RealStats] = field(default_factory=dict)  # by class; None: all
    outputs: object | None = None  # per_output.OutputSet: the scored extra outputs, if any
    _fidelity: dict | None = field(default=None, repr=False)
    _domain_out: dict | None = field(default=None, repr=False)

    def fidelity(self) -> dict[str, tuple[float, float]]:
        """All requested fid/kid/isc/prc values, from one extraction and the real statistics."""
        if self._fidelity is None:
            needs_real = bool(real_side([m for m in self.metrics if m in fidelity_metrics()]))
            self._fidelity = compute_metrics(
                self.real_stats.get(None, self.real.images) if needs_real else None,
                self.fake,
                self.extractor,
                self.metrics,
                device=self.device,
                seed=self.seed,
                kid_subset_size=self.kid_subset_size,
                batch_size=self.batch_size,
                cache_root=self.cache_root,
                real_cache_name=self.cache_name() if needs_real else None,
            )
        return self._fidelity

    def per_output(self, metric: str) -> list[dict]:
        """Rows of spec metric ``metric`` for each scored extra output (``fid/edges``, ...)."""
        return [] if self.outputs is None else self.outputs.rows(metric, self)

    def domain_outputs(self) -> dict[str, Tensor]:
        """The domain evaluator's outputs on the generated images (computed once)."""
        if self._domain_out is None:
            self._domain_out = predict(self.domain.net, self.fake, self.device, self.batch_size)
        return self._domain_out

    def class_fid(self, k: int) -> tuple[float, int, int]:
        """FID of class ``k``'s fakes vs its reals (real side cached per class), and the counts."""
        real_k = self.real.images[self.real.labels.cpu() == k]
        fake_k = self.fake[self.fake_labels == k]
        value = compute_metrics(
            self.real_stats.get(k, real_k),
            fake_k,
            self.extractor,
            ["fid"],
            device=self.device,
            batch_size=self.batch_size,
            cache_root=self.cache_root,
            real_cache_name=self.cache_name(k),
        )["fid"][0]
        return value, len(real_k), len(fake_k)

    def accuracies(self) -> dict[str, float]:
        """Conditional accuracy per task and condition scores, under the domain evaluator."""
        out = self.domain_outputs()
        return conditional_accuracy(out, self.fake_labels, self.info) | condition_scores(
            out, self.fake_conditions
        )

    def cache_name(self, cls: int | None = None) -> str:
        """Real-statistics cache name of the real split (or one class of it)."""
        return realstats.real_cache_name(self.real_digest, self.extractor, cls)

    def row(self, metric: str, value: float, std: float = NAN, **extra: object) -> dict:
        """A row with this evaluation's extractor and sample counts; ``extra`` overrides them."""
        return {
            "metric": metric,
            "value": float(value),
            "std": float(std),
            "feature_extractor": self.extractor.label,
            "extractor_hash": self.extractor.hash,
            "n_real": len(self.real),
            "n_fake": len(self.fake),
        } | extra

    def class_name(self, k: int) -> str:
        names = self.info.class_names
        return names[k] if k < len(names) else str(k)


def conditional_accuracy(
    outputs: dict[str, Tensor], labels: Tensor, info: DataInfo
) -> dict[str, float]:
    """Share of samples the evaluator classifies as their label; per label-fixed target too.

    A target in ``info.label_targets`` is read from its own head when the evaluator has one,
    else from the primary prediction mapped through ``label_targets``.
    """
    pred = outputs[PRIMARY].argmax(1)
    out = {"accuracy": (pred == labels).double().mean().item()}
    for name, table in info.label_targets.items():
        table = torch.tensor(table)
        head = outputs.get(f"class:{name}")
        got = head.argmax(1) if head is not None else table[pred]
        out[f"accuracy/{name}"] = (got == table[labels]).double().mean().item()
    return out


def condition_scores(outputs: dict[str, Tensor], conditions: dict[str, Tensor]) -> dict[str, float]:
    """Per conditioned target: accuracy (class targets) or mean absolute error (continuous),
    between the condition a sample was generated with and the evaluator's reading of it."""
    out = {}
    for name, value in conditions.items():
        if f"class:{name}" in outputs:
            got = outputs[f"class:{name}"].argmax(1)
            out[f"accuracy/{name}"] = (got == value.long()).double().mean().item()
        elif f"regress:{name}" in outputs:
            pred = outputs[f"regress:{name}"].reshape(value.shape[0], -1)
            err = (pred - value.float().reshape(value.shape[0], -1)).abs()
            out[f"mae/{name}"] = err.mean().item()
    return out
