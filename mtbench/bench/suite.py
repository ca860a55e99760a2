"""A suite file: a base spec, variants of it and seeds, every variant resolved before any runs.

A suite file names a base run spec (a path relative to the suite file, or an inline object),
variants (dotted overrides of the base, or a path to a full spec), seeds and ``shared``
overrides applied to every variant (the common protocol: steps, eval). Every variant is
resolved before anything runs, so a typo fails at once with its path
(``variants[2].set.train.stepz: ...``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from mtbench.errors import SpecError, UserError
from mtbench.evaluate.spec import PathText
from mtbench.registry import Registry
from mtbench.spec import MAX_NAME, MAX_SEED

NAME = r"^[A-Za-z0-9_.-]+$"
RESERVED = ("name", "seed", "out", "meta")  # set by the suite itself, per variant and seed


def _error(msg: str) -> PydanticCustomError:
    return PydanticCustomError("suite", msg)


# ----------------------------------------------------------------------------- the spec


class VariantNote(BaseModel):
    """What a leaderboard should say about a variant; mtbench adds the measured ``metrics``
    (mean ± std over seeds, and the best variant's) after the words."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2000)
    metrics: list[str] = Field(default_factory=list, description="metrics to quote")


class VariantSpec(BaseModel):
    """One variant: overrides of the base (``set``), or a full spec file (``spec``), or both."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=NAME)
    overrides: dict[str, Any] = Field(
        default_factory=dict, alias="set", description="dotted.key: JSON value"
    )
    spec: PathText | None = Field(None, description="run spec file, relative to suite")
    note: VariantNote | None = Field(None, description="words for the leaderboard's notes")


class SuiteSpec(BaseModel):
    """A benchmark suite: base spec x variants x seeds, with shared protocol overrides."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=NAME)
    description: str = ""
    base: Any = Field(None, description="run spec file (relative to the suite) or inline object")
    variants: list[VariantSpec] = Field(min_length=1)
    seeds: list[Annotated[int, Field(ge=0, le=MAX_SEED)]] = Field(min_length=1)
    shared: dict[str, Any] = Field(default_factory=dict, description="dotted.key: JSON value")

    @field_validator("base")
    @classmethod
    def _base_kind(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, str | dict):
            raise _error("a run spec file (relative to the suite file) or an inline spec object")
        return v

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, v: list[VariantSpec]) -> list[VariantSpec]:
        names = [x.name for x in v]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise _error(f"variant names must be unique; repeated: {', '.join(twice)}")
        return v

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise _error("seeds must be unique")
        return v


def _reserved(prefix: str, overrides: dict[str, Any]) -> list[str]:
    """Keys the suite sets itself (the run's name, seed and folder) may not be overridden."""
    roots = {k: k.replace("[", ".").split(".")[0] for k in overrides}
    return [
        f"{prefix}.{k}: set by the suite (name: the variant's, seed: from seeds, out: --out)"
        for k, root in roots.items()
        if root in RESERVED
    ]


def _overlaps(a: str, b: str) -> bool:
    """Whether two dotted keys name the same field or one contains the other."""
    a, b = a.replace("[", ".").replace("]", ""), b.replace("[", ".").replace("]", "")
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


# ----------------------------------------------------------------------------- resolving


@dataclass
class PlannedRun:
    """One variant x seed: its folder name and its fully resolved spec (threads unset)."""

    run_id: str
    variant: str
    seed: int
    spec: dict


@dataclass
class Suite:
    spec: SuiteSpec
    path: Path
    runs: list[PlannedRun]


def parse_suite(data: dict) -> SuiteSpec:
    try:
        suite = SuiteSpec.model_validate(data)
    except ValidationError as exc:
        from mtbench.spec import _problems

        raise SpecError(_problems(exc)) from None
    if suite.base is None and any(v.spec is None for v in suite.variants):
        raise SpecError(["base: Field required (unless every variant names its own spec)"])
    return suite


def load_suite(path: str | Path, registry: Registry, only: list[str] | None = None) -> Suite:
    """Read a suite file and resolve every selected variant; all problems in one SpecError."""
    from mtbench import spec as S

    path = Path(path)
    suite = parse_suite(S.read_json(path, "suite"))
    chosen = _select(suite, only)
    problems: list[str] = []
    runs: list[PlannedRun] = []
    for i, variant in chosen:
        resolved = _resolve_variant(suite, i, variant, path.parent, registry, problems)
        if resolved is None:
            continue
        for seed in suite.seeds:
            spec = json.loads(json.dumps(resolved))
            spec.update(seed=seed, out=None, meta=None)
            spec["log"]["progress"] = False
            runs.append(PlannedRun(f"{variant.name}-s{seed}", variant.name, seed, spec))
    if problems:
        raise SpecError(list(dict.fromkeys(problems)))
    return Suite(suite, path, runs)


def _select(suite: SuiteSpec, only: list[str] | None) -> list[tuple[int, VariantSpec]]:
    names = [v.name for v in suite.variants]
    unknown = [n for n in only or [] if n not in names]
    if unknown:
        raise UserError(
            f"--only: no variant {', '.join(map(repr, unknown))} in suite {suite.name!r}; "
            f"its variants: {', '.join(names)}"
        )
    return [(i, v) for i, v in enumerate(suite.variants) if not only or v.name in only]


def _resolve_variant(
    suite: SuiteSpec,
    i: int,
    variant: VariantSpec,
    folder: Path,
    registry: Registry,
    problems: list[str],
) -> dict | None:
    """The variant's resolved spec JSON, or None with its problems appended."""
    from mtbench import spec as S

    where = f"variants[{i}]"
    bad = _reserved("shared", suite.shared) + _reserved(f"{where}.set", variant.overrides)
    bad += [
        f"{where}.set.{k}: also set by shared (the protocol of every variant)"
        for k in variant.overrides
        if any(_overlaps(k, s) for s in suite.shared)
    ]
    if bad:
        problems += bad
        return None
    try:
        data = _start_from(suite, variant, folder, where)
    except UserError as exc:
        problems += exc.lines()
        return None
    for prefix, overrides in (("shared", suite.shared), (f"{where}.set", variant.overrides)):
        for key, value in overrides.items():
            try:
                data = S.apply_overrides(data, [f"{key}={json.dumps(value)}"])
            except UserError as exc:
                problems.append(f"{prefix}.{key}: {str(exc).split(': ', 1)[-1]}")
                return None
    data.update(name=variant.name, seed=suite.seeds[0])
    try:
        return S.resolve(data, registry).to_json()
    except UserError as exc:
        problems += [_locate(line, suite, variant, where) for line in exc.lines()]
        return None


def _start_from(suite: SuiteSpec, variant: VariantSpec, folder: Path, where: str) -> dict:
    """The variant's starting spec: its own file, else the base (file or inline)."""
    from mtbench import spec as S

    if variant.spec is not None:
        source, what = variant.spec, f"{where}.spec"
    else:
        source, what = suite.base, "base"
    if isinstance(source, dict):
        data = json.loads(json.dumps(source))
    else:
        file = folder / source
        if not file.is_file():
            raise UserError(f"{what}: no such run spec file: {file}")
        data = S.read_json(file)
    for key in ("out", "meta"):
        data.pop(key, None)
    return data


def _locate(line: str, suite: SuiteSpec, variant: VariantSpec, where: str) -> str:
    """Point a resolved-spec problem at the override that caused it, else at the variant."""
    path, sep, msg = line.partition(": ")
    if not sep:
        return f"{where}: {line}"
    for key in variant.overrides:
        if _overlaps(path, key):
            return f"{where}.set.{path}: {msg}"
    for key in suite.shared:
        if _overlaps(path, key):
            return f"shared.{path}: {msg}"
    return f"{where} ({variant.name}): {path}: {msg}"
