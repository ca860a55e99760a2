"""The spec's ``eval`` section: which metrics, how many samples, which extractor, where to cache.

Everything checkable without the data is checked here, so a bad section fails before training
with the field's path (``eval.kid_subset_size: ...``); ``check_against`` adds the checks that
need the data set.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from mtbench.api import DataInfo, DataSplits
from mtbench.evaluate import catalogue
from mtbench.evaluate.outputs import PER_OUTPUT_ONLY, target_problems

ISC_SPLITS = 10  # torch-fidelity's default number of IS splits
PRC_NEIGHBORHOOD = 3  # torch-fidelity's default k for precision/recall
DC_NEIGHBORHOOD = 5  # k of density/coverage (mtbench.evaluate.prdc.NEAREST_K)
INCEPTION_FILE = "weights-inception-2015-12-05-6726825d.pth"  # torch-fidelity's download name
RENAMED = {"inception_weights": "weights"}  # old eval field -> its name now
MAX_STEPS = 10**9  # bounds that keep counts inside int64 tables and runs finite in time
MAX_BATCH = 2**16  # images per batch: far beyond any device's memory for these networks
MAX_SAMPLES = 10**6  # generated images per evaluation (FID's usual protocol is 50,000)
MAX_PATH = 4096  # Linux's PATH_MAX


def _plain_path(v: str) -> str:
    if "\x00" in v:
        raise _error("contains a NUL character; a path cannot")
    if any(len(part.encode()) > 255 for part in Path(v).parts):
        raise _error("has a folder or file name longer than 255 bytes; shorten it")
    return v


PathText = Annotated[str, Field(min_length=1, max_length=MAX_PATH), AfterValidator(_plain_path)]


def _known_metric(name: str) -> str:
    if name not in catalogue.names():
        raise _error(f"unknown metric {name!r}; choose from {', '.join(catalogue.names())}")
    return name


def built_extractors() -> list[str]:
    """Extractors mtbench builds from weights it loads as data only: ``domain`` and every
    torch-fidelity network (``mtbench.evaluate.networks``; imported when asked, as it is slow)."""
    from mtbench.evaluate.networks import buildable

    return ["domain", *buildable()]


def installed_extractors() -> list[str]:
    """Every extractor name: the domain evaluator and all torch-fidelity lists as installed."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    tf = [n for n in FEATURE_EXTRACTORS_REGISTRY if not n.startswith("mtbench-domain-")]
    return ["domain", *tf]


def _known_extractor(name: str) -> str:
    if name == "domain":
        return name
    built = built_extractors()
    if name in built:
        return name
    installed = installed_extractors()
    if name in installed:
        raise _error(
            f"{name!r} is a torch-fidelity extractor mtbench cannot yet build from weights it "
            f"loads as data only; use one of {', '.join(built)}"
        )
    raise _error(f"unknown feature extractor {name!r}; installed: {', '.join(installed)}")


class _ExtractorEnum:
    """JSON schema of ``eval.feature_extractor``: the buildable names, listed when asked."""

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict:
        return {"enum": built_extractors()}


ExtractorName = Annotated[str, AfterValidator(_known_extractor), _ExtractorEnum]

MetricName = Annotated[
    str, AfterValidator(_known_metric), WithJsonSchema({"enum": catalogue.names()})
]


def _error(msg: str) -> PydanticCustomError:
    """A validation error whose text is exactly ``msg`` (no "Value error, " prefix)."""
    return PydanticCustomError("eval_spec", msg)


class DomainRecipe(BaseModel):
    """How the domain evaluator is trained; part of its cache key, so any change retrains it."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    epochs: int = Field(4, ge=1, le=10**4)
    lr: float = Field(2e-3, gt=0)
    batch_size: int = Field(64, ge=1, le=MAX_BATCH)
    width: int = Field(16, ge=4, le=1024)  # channels of the first conv; doubled twice
    feat_dim: int = Field(128, ge=8, le=2**14)  # penultimate width: the FID/KID/PRC space
    seed: int = Field(0, ge=0, le=2**32 - 1)


def _weights_file(name: str) -> str:
    from mtbench.evaluate import weights  # imports torch-fidelity: only when asked

    return weights.file_name(name)


def _cached_weights(name: str, allow_download: bool) -> str | None:
    """The torch hub cache's weights for ``name``; none when a download may fetch them later."""
    from mtbench.evaluate import weights

    found = weights.hub_file(name)
    if found.is_file():
        return str(found)
    if allow_download:
        return None  # fetched when the evaluator is prepared (evaluate/weights.py)
    raise _error(
        f'feature_extractor "{name}" needs its weights and runs are offline: set weights to '
        f"a local {weights.file_name(name)}, set allow_download: true, or use feature_extractor: "
        '"domain"'
    )


def _check_code(name: str, allow_download: bool) -> None:
    """DINOv2's architecture is its authors' hub code: cached, or allowed to be fetched."""
    from mtbench.evaluate import weights

    code = weights.hub_code()
    if weights.needs_code(name) and not allow_download and not (code / "hubconf.py").is_file():
        raise _error(
            f"{name} is built by the {weights.DINOV2_REPO} code, not in the torch hub cache "
            f"({code}): set allow_download: true once to fetch it"
        )


def auto_best_metric(metrics: list[str], extractor: str = "domain") -> str | None:
    """FID (``fd_<network>``) when computed, else the first row of the first metric, else none."""
    if "fid" in metrics:
        return catalogue.fd_row(extractor)
    known = [m for m in metrics if m in catalogue.names()]
    if not known or known[0] != metrics[0] or known[0] in PER_OUTPUT_ONLY:
        return None  # consistency has rows per output only: name one (consistency/edges)
    return catalogue.rows_of(known[0])[0]


class EvalSpec(BaseModel):
    """Metrics during and after training, and the protocol every number is computed under."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    metrics: list[MetricName] = []
    every: int = Field(0, ge=0, le=MAX_STEPS)  # evaluate every N training steps; 0 = at the end
    n_samples: int = Field(10000, ge=2, le=MAX_SAMPLES)  # generated samples per evaluation
    real_split: Literal["eval", "train"] = "eval"
    feature_extractor: ExtractorName = "domain"
    allow_download: bool = False  # may fetch missing extractor weights into the torch hub cache
    # The extractor's weight file; default: the torch hub cache (``mtbench.evaluate.weights``).
    weights: PathText | None = Field(None, validate_default=True)
    kid_subset_size: int = Field(1000, ge=2, le=MAX_SAMPLES, validate_default=True)
    raw: bool = False  # also evaluate the raw (non-EMA) generator
    # Row metric that picks checkpoints/best.pt; default: "fid" if computed, else the first metric.
    best_metric: str | None = Field(None, max_length=128, validate_default=True)
    cache_dir: PathText | None = None  # default: env MTBENCH_CACHE, else ~/.cache/mtbench
    batch_size: int = Field(500, ge=1, le=MAX_BATCH)
    domain: DomainRecipe = DomainRecipe()
    # Generator outputs scored against their real targets (fid/<k>, consistency/<k>, ...);
    # default (null): every output with a real image target of its shape (evaluate/outputs.py).
    outputs: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        None, max_length=64
    )

    @model_validator(mode="before")
    @classmethod
    def _default_best_metric(cls, data: Any) -> Any:
        if isinstance(data, dict) and "best_metric" not in data:
            metrics = data.get("metrics", [])
            metrics = metrics if isinstance(metrics, list) else []
            extractor = data.get("feature_extractor", "domain")
            extractor = extractor if isinstance(extractor, str) else "domain"
            data = {**data, "best_metric": auto_best_metric(metrics, extractor)}
        return data

    @model_validator(mode="before")
    @classmethod
    def _renamed_fields(cls, data: Any) -> Any:
        for old, new in RENAMED.items():
            if isinstance(data, dict) and old in data:
                raise _error(f"{old} is now called {new}; rename the field")
        return data

    @field_validator("metrics")
    @classmethod
    def _dedupe(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @field_validator("n_samples")
    @classmethod
    def _enough_samples(cls, v: int, info: ValidationInfo) -> int:
        metrics = info.data.get("metrics", [])
        if "isc" in metrics and v < ISC_SPLITS:
            raise _error(
                f"isc splits samples into {ISC_SPLITS}; set n_samples to {ISC_SPLITS} or more"
            )
        if "prc" in metrics and v <= PRC_NEIGHBORHOOD:
            raise _error(f"prc needs more than {PRC_NEIGHBORHOOD} samples; raise n_samples")
        if "dc" in metrics and v <= DC_NEIGHBORHOOD:
            raise _error(
                f"dc (density/coverage, k={DC_NEIGHBORHOOD}) needs more than {DC_NEIGHBORHOOD} "
                "samples; raise n_samples"
            )
        return v

    @field_validator("weights")
    @classmethod
    def _weights_on_disk(cls, v: str | None, info: ValidationInfo) -> str | None:
        name = info.data.get("feature_extractor")
        if name in (None, "domain"):
            return v
        allow = bool(info.data.get("allow_download"))
        v = v or _cached_weights(name, allow)
        _check_code(name, allow)
        if v is not None and not Path(v).expanduser().is_file():
            raise _error(
                f"weights file '{v}' does not exist; give the path of a local "
                f'{_weights_file(name)} or use feature_extractor: "domain"'
            )
        return v and str(Path(v).expanduser())

    @field_validator("kid_subset_size")
    @classmethod
    def _kid_below_n(cls, v: int, info: ValidationInfo) -> int:
        n = info.data.get("n_samples")
        if "kid" in info.data.get("metrics", []) and n is not None and v >= n:
            raise _error(
                f"{v} must be smaller than n_samples ({n}); "
                "lower kid_subset_size or raise n_samples"
            )
        return v

    @field_validator("best_metric")
    @classmethod
    def _best_is_computed(cls, v: str | None, info: ValidationInfo) -> str | None:
        metrics = info.data.get("metrics")
        if v is None or metrics is None:
            return v
        extractor = info.data.get("feature_extractor", "domain")
        rows = catalogue.computed_rows(metrics, extractor)
        if v == "fid":
            v = catalogue.fd_row(extractor)  # "fid" names the Fréchet distance on any network
        if catalogue.yields(metrics, v, extractor):
            return v
        choices = ", ".join(rows) if rows else "nothing (eval.metrics is empty)"
        raise _error(
            f"'{v}' is not computed by eval.metrics; choose one of {choices}, "
            "or null for no best.pt"
        )


def resolve_cache_dir(spec: EvalSpec) -> Path:
    """Where evaluators and real statistics are cached: spec, else $MTBENCH_CACHE, else ~/.cache."""
    root = spec.cache_dir or os.environ.get("MTBENCH_CACHE") or "~/.cache/mtbench"
    return Path(root).expanduser()


def needs_domain(spec: EvalSpec) -> bool:
    """Whether this spec uses the domain evaluator (as extractor, or as accuracy's classifier)."""
    return bool(spec.metrics) and (spec.feature_extractor == "domain" or "accuracy" in spec.metrics)


def check_against(spec: EvalSpec, info: DataInfo, data: DataSplits | None = None) -> list[str]:
    """Problems with evaluating ``spec`` on this data set (``eval.<field>: ...``); empty if fine.

    Call with ``info`` alone before loading data (split sizes are checked then only when the
    data set declares ``info.split_sizes``), and with ``data`` before training starts.
    """
    if not spec.metrics:
        return []
    problems = _label_problems(spec, info) + target_problems(spec.outputs, info)
    if problems:
        return problems
    if data is None:
        n = info.split_sizes.get(spec.real_split)
        return [] if n is None else _size_problems(spec, n)
    real = data.eval if spec.real_split == "eval" else data.train
    if real is None:
        return _size_problems(spec, 0)
    if needs_domain(spec) and data.train.labels is None:
        problems.append("eval.feature_extractor: the domain evaluator needs labelled train data")
    problems += _size_problems(spec, len(real))
    if "intra_fid" in spec.metrics and real.labels is not None:
        counts = torch.bincount(real.labels.cpu(), minlength=info.num_classes)
        few = [str(c) for c in range(info.num_classes) if counts[c] < 2]
        if few:
            problems.append(
                f"eval.metrics: intra_fid needs 2 real images of every class in the "
                f"{spec.real_split} split; classes {', '.join(few)} have fewer"
            )
    return problems


def _label_problems(spec: EvalSpec, info: DataInfo) -> list[str]:
    """What the metrics need of the data set's class labels."""
    problems = []
    k = info.num_classes
    if k == 0:
        if spec.feature_extractor == "domain":
            problems.append(
                "eval.feature_extractor: the domain evaluator is a classifier and this data set "
                'has no class labels; use "inception-v3-compat" with eval.weights'
            )
        for m in ("accuracy", "intra_fid"):
            if m in spec.metrics:
                problems.append(f"eval.metrics: {m} needs class labels, which this data set lacks")
    elif "intra_fid" in spec.metrics and spec.n_samples < 2 * k:
        problems.append(
            "eval.n_samples: intra_fid needs 2 generated images per class; "
            f"set n_samples >= {2 * k}"
        )
    return problems


def _size_problems(spec: EvalSpec, n_real: int) -> list[str]:
    """What the metrics need of the size of the real split (``n_real`` images; 0: none)."""
    if n_real == 0:
        if spec.real_split == "eval":
            return ['eval.real_split: this data set has no eval split; use "train"']
        return ["eval.real_split: the train split is empty"]
    problems = []
    if "kid" in spec.metrics and n_real < spec.kid_subset_size:
        problems.append(
            f"eval.kid_subset_size: {spec.kid_subset_size} exceeds the {n_real} images of the "
            f"{spec.real_split} split; lower it to {n_real} or less"
        )
    if "prc" in spec.metrics and n_real <= PRC_NEIGHBORHOOD:
        problems.append(f"eval.real_split: prc needs more than {PRC_NEIGHBORHOOD} real images")
    if "dc" in spec.metrics and n_real <= DC_NEIGHBORHOOD:
        problems.append(
            f"eval.real_split: dc (density/coverage, k={DC_NEIGHBORHOOD}) needs more than "
            f"{DC_NEIGHBORHOOD} real images"
        )
    return problems
