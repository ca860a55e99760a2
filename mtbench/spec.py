"""Run specs: JSON in, validated objects out.

Validation has two phases. The core models below check the spec's shape; then every
plugin section (``{"type": name, ...params}``) is checked against that plugin's own
``Config``. Both phases report problems as ``path.to.field: message``.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mtbench import userjson
from mtbench.api import DataInfo, Plugin, PluginConfig, TargetInfo
from mtbench.errors import SpecError, UserError
from mtbench.evaluate.spec import MAX_BATCH, MAX_STEPS, EvalSpec, PathText, check_against
from mtbench.registration import error_line
from mtbench.registry import Registry

# Bounds where the run would otherwise fail late: numpy seeds are 32-bit, Adam wants betas in
# [0, 1), torch's thread count is a C int (and more threads than this never help), a folder
# name is at most 255 bytes (a run id adds "-s<seed>").
MAX_SEED = 2**32 - 1
MAX_THREADS = 1024
MAX_NAME = 128
Beta = Annotated[float, Field(ge=0, lt=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class PluginSpec(BaseModel):
    """``{"type": plugin name, ...}``; the other fields are the plugin's Config."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)
    type: str = Field(min_length=1, max_length=MAX_NAME)

    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class HeadSpec(PluginSpec):
    """A discriminator head: its plugin, its weight in the D step and (optionally) the G step."""

    weight: float = Field(1.0, ge=0)
    g_weight: float | None = Field(None, ge=0, description="G-step weight; default: weight")
    label: str | None = Field(
        None, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_]+$", description="term name prefix"
    )


class DiscriminatorSpec(Strict):
    trunk: PluginSpec
    heads: list[HeadSpec] = Field(min_length=1)


class OptimSpec(Strict):
    """Adam settings of one player."""

    lr: float = Field(2e-4, gt=0)
    betas: tuple[Beta, Beta] = (0.0, 0.9)


class TrainSpec(Strict):
    steps: int = Field(1000, ge=1, le=MAX_STEPS)
    batch_size: int = Field(64, ge=1, le=MAX_BATCH)
    g: OptimSpec = OptimSpec()
    d: OptimSpec = OptimSpec()
    d_steps: int = Field(1, ge=1, le=1000, description="D steps per G step")
    grad_clip: float | None = Field(None, gt=0, description="max gradient norm, both players")
    ema_decay: float = Field(0.999, ge=0, lt=1, description="generator EMA; 0 turns it off")
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(
        None,
        ge=1,
        le=MAX_THREADS,
        description="torch CPU threads; default torch's. 1 is best on busy machines",
    )
    sync_batchnorm: bool = Field(
        False, description="under torchrun on CUDA: batch norm over the global batch"
    )
    channels_last: bool = Field(False, description="G and D weights in channels-last layout")
    compile: bool = Field(False, description="torch.compile the generator and the D trunk")


class LogSpec(Strict):
    every: int = Field(10, ge=1, le=MAX_STEPS, description="steps between rows of steps.parquet")
    checkpoint_every: int = Field(500, ge=1, le=MAX_STEPS)
    sample_every: int = Field(500, ge=1, le=MAX_STEPS)
    samples_per_class: int = Field(8, ge=1, le=64)
    progress: bool = True
    tensorboard: bool | None = Field(
        None, description="write <run>/tb/ events; null: when tensorboard is installed"
    )


class DataSpec(Strict):
    """How batches reach the device: the whole split there, or streamed (``mtbench.stream``)."""

    source: Literal["auto", "memory", "stream"] = Field(
        "auto", description="memory: whole split on the device; stream: DataLoader workers"
    )
    device_bytes: int | None = Field(
        None, ge=1, description="budget for the in-memory source; default a fraction of free memory"
    )
    workers: int = Field(2, ge=0, le=64, description="DataLoader worker processes (stream)")
    hflip: bool = Field(False, description="random horizontal flip of real images, seeded")


class RunSpec(Strict):
    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str | None = Field(
        None,
        max_length=20_000,
        description="free text: what the spec is for, what it mirrors, how it differs; ignored",
    )
    seed: int = Field(0, ge=0, le=MAX_SEED)
    dataset: PluginSpec
    generator: PluginSpec
    discriminator: DiscriminatorSpec
    loss: PluginSpec = PluginSpec(type="ns")
    weighting: PluginSpec = PluginSpec(type="fixed")
    condition_on: list[Annotated[str, Field(max_length=MAX_NAME)]] = Field(
        [], description="data-set targets the generator is also conditioned on (drawn from data)"
    )
    regularizers: list[PluginSpec] = Field(
        [], description="penalties and augmentations: gradient_penalty, r1, r2, diffaugment"
    )
    data: DataSpec = DataSpec()
    train: TrainSpec = TrainSpec()
    log: LogSpec = LogSpec()
    eval: EvalSpec = EvalSpec()
    out: PathText | None = Field(None, description="run folder; default runs/<name>-s<seed>")
    meta: dict | None = Field(None, description="written by mtbench into spec.json; ignored")


@dataclass
class Built:
    """A plugin section after phase two: the plugin class and its validated Config."""

    path: str
    cls: type[Plugin]
    cfg: PluginConfig


@dataclass
class Resolved:
    """A fully validated spec: the core model plus every plugin section's Config."""

    spec: RunSpec
    dataset: Built
    generator: Built
    trunk: Built
    heads: list[Built]
    loss: Built
    weighting: Built
    data_info: DataInfo
    regularizers: list[Built]

    def head_labels(self) -> list[str]:
        """Unique term prefixes: a head's label, else its type (numbered when repeated)."""
        return _unique([h.label or h.type for h in self.spec.discriminator.heads])

    def conditions(self) -> dict[str, TargetInfo]:
        """The targets the generator is conditioned on besides the primary label."""
        return {name: self.data_info.targets[name] for name in self.spec.condition_on}

    def regularizer_labels(self) -> list[str]:
        return _unique([r.type for r in self.spec.regularizers])

    def to_json(self) -> dict:
        """The spec with every plugin's defaults filled in."""
        out = self.spec.model_dump(mode="json")
        out["dataset"] = _dump(self.dataset)
        out["generator"] = _dump(self.generator)
        out["loss"] = _dump(self.loss)
        out["weighting"] = _dump(self.weighting)
        out["discriminator"]["trunk"] = _dump(self.trunk)
        out["regularizers"] = [_dump(b) for b in self.regularizers]
        for entry, head, h in zip(
            out["discriminator"]["heads"], self.heads, self.spec.discriminator.heads
        ):
            entry.update(_dump(head), weight=h.weight, g_weight=h.g_weight, label=h.label)
        return out


def _unique(raw: list[str]) -> list[str]:
    return [f"{r}{raw[:i].count(r)}" if raw.count(r) > 1 else r for i, r in enumerate(raw)]


def _dump(b: Built) -> dict:
    return {"type": b.cls.name, **b.cfg.model_dump(mode="json")}


# ----------------------------------------------------------------------------- loading


def read_json(path: str | Path, what: str = "spec") -> dict:
    """Read a JSON object from a file, or raise a one-line UserError naming the file."""
    return userjson.read_object(path, what)


def apply_overrides(data: dict, assignments: list[str]) -> dict:
    """Apply ``dotted.key=value`` (``heads[1].w`` or ``heads.1.w``); value: JSON or text."""
    out = json.loads(json.dumps(data))
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserError(f"--set {item!r}: expected dotted.key=value")
        _set_path(out, key, userjson.parse_or_text(raw, f"--set {key}"), item)
    userjson.check_depth(out, "--set")
    return out


def _set_path(obj: Any, key: str, value: Any, item: str) -> None:
    parts = key.replace("[", ".").replace("]", "").split(".")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(obj, list):
            if not part.isdigit() or int(part) >= len(obj):
                raise UserError(
                    f"--set {item!r}: {where} is not an index of a {len(obj)}-item list"
                )
            part = int(part)
        elif not isinstance(obj, dict):
            raise UserError(f"--set {item!r}: {'.'.join(parts[:i])} is not an object")
        if last:
            obj[part] = value
        else:
            if isinstance(obj, dict) and part not in obj:
                obj[part] = {}
            obj = obj[part]


def format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(spec)"


def _problems(exc: ValidationError, prefix: str = "", fields: str = "") -> list[str]:
    """``path: message`` per error; with ``fields`` ("what: a, b"), typos get a hint."""
    lines = []
    for err in exc.errors():
        loc = format_loc(err["loc"])
        path = f"{prefix}.{loc}" if prefix and err["loc"] else (prefix or loc)
        hint = ""
        if fields and err["type"] == "extra_forbidden" and len(err["loc"]) == 1:
            hint = _field_hint(str(err["loc"][0]), fields)
        lines.append(f"{path}: {err['msg']}{hint}")
    return lines


def _field_hint(typo: str, fields: str) -> str:
    what, _, listing = fields.partition(": ")
    close = difflib.get_close_matches(typo, listing.split(", "), n=2, cutoff=0.6)
    guess = f" did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f";{guess} fields of {what}: {listing}"


def _fields_of(kind: str, cls: type[Plugin]) -> str:
    """``head 'x': type, a, b, weight, ...``: every field a spec section of this plugin takes."""
    names = ["type"] + [f.alias or n for n, f in cls.Config.model_fields.items()]
    if kind == "head":
        names += [n for n in HeadSpec.model_fields if n != "type"]
    return f"{kind} {cls.name!r}: {', '.join(names)}"


# ----------------------------------------------------------------------------- resolving


def parse(data: dict) -> RunSpec:
    """Phase one: the core shape of the spec."""
    try:
        return RunSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_problems(exc)) from None


def resolve(data: dict, registry: Registry) -> Resolved:
    """Both phases: core shape, then each plugin section against its plugin's Config."""
    spec = parse(data)
    problems: list[str] = []
    head_specs = spec.discriminator.heads
    sections = [
        ("dataset", "dataset", spec.dataset),
        ("generator", "generator", spec.generator),
        ("trunk", "discriminator.trunk", spec.discriminator.trunk),
        ("loss", "loss", spec.loss),
        ("weighting", "weighting", spec.weighting),
    ]
    sections += [("head", f"discriminator.heads[{i}]", h) for i, h in enumerate(head_specs)]
    sections += [("regularizer", f"regularizers[{i}]", g) for i, g in enumerate(spec.regularizers)]
    built: dict[str, Built] = {}
    for kind, path, section in sections:
        b = _build(kind, path, section, registry, problems)
        if b is not None:
            built[path] = b
    if problems:
        raise SpecError(problems)
    info = built["dataset"].cls(built["dataset"].cfg).info()
    for b in built.values():
        problems += [f"{b.path}: {msg}" for msg in _check(b, info, registry)]
    problems += check_against(spec.eval, info)
    problems += _check_conditions(spec.condition_on, info)
    if problems:
        raise SpecError(problems)
    heads = [built[f"discriminator.heads[{i}]"] for i in range(len(head_specs))]
    regs = [built[f"regularizers[{i}]"] for i in range(len(spec.regularizers))]
    return Resolved(
        spec,
        built["dataset"],
        built["generator"],
        built["discriminator.trunk"],
        heads,
        built["loss"],
        built["weighting"],
        info,
        regs,
    )


def _build(
    kind: str, path: str, section: PluginSpec, registry: Registry, problems: list[str]
) -> Built | None:
    try:
        cls = registry.get(kind, section.type)
    except UserError as exc:
        problems.append(f"{path}.type: {_elsewhere(kind, section.type, registry) or exc}")
        return None
    params = section.params()
    try:
        return Built(path, cls, cls.Config.model_validate(params))
    except ValidationError as exc:
        problems.extend(_problems(exc, path, _fields_of(kind, cls)))
        return None
    except Exception as exc:  # a Config validator that raises what pydantic does not wrap
        problems.append(f"{path}: {_plugin_bug(registry, cls, 'its Config', exc)}")
        return None


def _check(b: Built, info: DataInfo, registry: Registry) -> list[str]:
    """A plugin's own ``check``; one line naming the plugin if the check itself fails."""
    try:
        return [str(msg) for msg in b.cls.check(b.cfg, info)]
    except UserError as exc:
        return [str(exc)]
    except Exception as exc:
        return [_plugin_bug(registry, b.cls, "check()", exc)]


def _plugin_bug(registry: Registry, cls: type[Plugin], what: str, exc: Exception) -> str:
    return (
        f"{registry.describe(cls.kind, cls.name)}: {what} raised {error_line(exc)}; "
        "a bug in that plugin: report it to its authors, or use another plugin"
    )


def _check_conditions(names: list[str], info: DataInfo) -> list[str]:
    ok = sorted(k for k, t in info.targets.items() if t.kind in ("class", "continuous"))
    return [
        f"condition_on[{i}]: {name!r} is not a class or continuous target of this data set; "
        f"declared: {', '.join(ok) or 'none'}"
        for i, name in enumerate(names)
        if name not in ok
    ]


# How messages name each kind, and where a spec takes it: a plugin named in another kind's
# section is told where it goes.
SECTION_OF_KIND = {
    "dataset": ("a data set", "set it as dataset instead"),
    "generator": ("a generator", "set it as generator instead"),
    "trunk": ("a discriminator trunk", "set it as discriminator.trunk instead"),
    "head": ("a discriminator head", "list it under discriminator.heads instead"),
    "loss": ("an adversarial loss family", "set it as loss instead"),
    "regularizer": ("a regularizer", "list it under regularizers instead"),
    "weighting": ("a loss weighting", "set it as weighting instead"),
}


def _elsewhere(kind: str, name: str, registry: Registry) -> str | None:
    """``'r1' is a regularizer; list it under regularizers instead`` for a plugin of another
    kind, or None when no other kind has it (then the registry's own message is used)."""
    if any(b.claims(kind, name) for b in registry.broken):
        return None
    for other, (noun, todo) in SECTION_OF_KIND.items():
        if other != kind and name in registry.plugins.get(other, {}):
            return f"{name!r} is {noun}; {todo}"
    return None


def load(path: str | Path, registry: Registry, overrides: list[str] | None = None) -> Resolved:
    """Read, override and fully validate a spec file."""
    return resolve(apply_overrides(read_json(path), overrides or []), registry)
