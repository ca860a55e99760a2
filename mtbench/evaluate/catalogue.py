"""The metric catalogue: every metric's facts in one place, without importing torch.

A metric is declared once, with the function that computes it, in ``mtbench.evaluate.metrics``
(``@metric(...)``, in the style of stylegan2-ada-pytorch's ``metric_main``). Spec validation,
evaluation, best-checkpoint choice, result tables, reports and plots all read the facts from
here, so adding a metric touches that one file.

A metric named in ``eval.metrics`` (``prc``) yields rows (``precision``, ``recall``,
``f_score``). A row may be a *family*: ``intra_fid`` also yields ``intra_fid/<class>``, and
``accuracy`` yields ``accuracy/<target>``; family members share the family's facts.

A generator's extra outputs scored against their real targets (``mtbench.evaluate.per_output``)
add members named by the output: ``fid/edges``, ``kid/edges``, ``precision/edges``,
``accuracy/edges``, and the ``consistency`` metric's ``consistency/edges``; they share their
family's facts, and their ``output`` and ``target`` columns say what was compared.

The Fréchet distance's row says its network: ``fid`` on Inception-v3 (the name FID was given
for) and on the domain evaluator (mtbench's FID of record), ``fd_<network>`` on any other
(``fd_dinov2``, ``fd_clip``, ``fd_vgg16``; Stein et al. 2023 write FD_DINOv2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module


@dataclass(frozen=True)
class Row:
    """One row metric of ``evals.parquet``: its name and how to read it."""

    name: str
    higher_is_better: bool
    headline: bool = True  # shown in leaderboards (members of a family are not, by default)
    members_headline: bool = True  # whether ``<name>/<x>`` rows are headline too


@dataclass(frozen=True)
class MetricInfo:
    """A metric ``eval.metrics`` may name: the rows it yields and what it reads."""

    name: str
    rows: tuple[Row, ...]
    reads_real: bool  # needs real images (and cached real statistics)
    fidelity: bool  # computed inside the one shared torch-fidelity call
    compute: Callable | None = None  # EvalContext -> list of row dicts
    doc: str = ""
    space: str | None = None  # another metric whose feature layer this one reads (dc: fid's)


_METRICS: dict[str, MetricInfo] = {}  # declaration order is display order
# Rows no spec metric yields but evaluation writes (the domain evaluator's own accuracy).
_EXTRA = (Row("evaluator_accuracy", True, headline=False), Row("mae", False))
_LOADED = False


def metric(
    name: str,
    rows: tuple[Row, ...],
    *,
    reads_real: bool,
    fidelity: bool = False,
    space: str | None = None,
) -> Callable[[Callable], Callable]:
    """Declare a metric and register the function computing its rows."""

    def register(fn: Callable) -> Callable:
        doc = fn.__doc__ or ""
        _METRICS[name] = MetricInfo(name, rows, reads_real, fidelity, fn, doc, space)
        return fn

    return register


def _catalogue() -> dict[str, MetricInfo]:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        import_module("mtbench.evaluate.metrics")  # declares every metric; torch-free
    return _METRICS


def names() -> list[str]:
    """Every metric ``eval.metrics`` accepts, in display order."""
    return list(_catalogue())


def info(name: str) -> MetricInfo:
    return _catalogue()[name]


def rows_of(name: str) -> tuple[str, ...]:
    """Row names a spec metric yields (family rows by their family name)."""
    return tuple(r.name for r in info(name).rows)


def feature_space(name: str) -> str:
    """The metric whose feature layer ``name`` reads (itself, unless declared otherwise)."""
    return info(name).space or name


def fidelity_metrics() -> tuple[str, ...]:
    """Spec metrics computed inside torch-fidelity's call."""
    return tuple(m.name for m in _catalogue().values() if m.fidelity)


def real_side(metrics: list[str] | tuple[str, ...]) -> list[str]:
    """Those of ``metrics`` that read the real images."""
    return [m for m in metrics if info(m).reads_real]


FID_NETWORKS = ("domain", "inception-v3-compat")  # extractors whose Fréchet distance is "fid"


def fd_row(extractor: str) -> str:
    """The Fréchet distance's row name under ``extractor`` (``dinov2-vit-s-14``: ``fd_dinov2``)."""
    return "fid" if extractor in FID_NETWORKS else "fd_" + extractor.split("-", 1)[0]


def canonical(name: str) -> str:
    """The catalogue row a row name is an instance of (``fd_dinov2`` is the ``fid`` row)."""
    return "fid" if name.startswith("fd_") else name


def _all_rows() -> list[Row]:
    return [r for m in _catalogue().values() for r in m.rows] + list(_EXTRA)


def row(name: str) -> Row | None:
    """Facts of a row metric, by exact name or by its family (``accuracy/shape``)."""
    name = canonical(name)
    family = name.split("/", 1)[0]
    for r in _all_rows():
        if r.name == name:
            return r
    for r in _all_rows():
        if r.name == family:
            return r
    return None


def higher_is_better(name: str) -> bool:
    """Whether a larger value of this row metric is better (unknown rows: a distance)."""
    r = row(name)
    return bool(r and r.higher_is_better)


def is_headline(name: str) -> bool:
    """Whether a leaderboard shows this row metric (not per-class intra-FIDs, say)."""
    r = row(name)
    if r is None:
        return True
    return r.headline if r.name == name else r.members_headline


def compares_with_real(name: str) -> bool:
    """Whether this row scores generated against all real images of the split (fid, kid,
    precision; not a per-class member such as ``intra_fid/red``, nor accuracy)."""
    name = canonical(name)
    return any(m.reads_real and name in (r.name for r in m.rows) for m in _catalogue().values())


def display_key(name: str) -> tuple:
    """Sort key: headline rows in catalogue order, family members after, the rest last."""
    order = [r.name for r in _all_rows()]
    base = canonical(name)
    family = base.split("/", 1)[0]
    if base in order:
        return (0 if is_headline(name) else 2, order.index(base), name)
    if family in order:
        return (1 if is_headline(name) else 3, order.index(family), name)
    return (1, len(order), name)


def order(names_: list[str]) -> list[str]:
    return sorted(names_, key=display_key)


def computed_rows(metrics: list[str], extractor: str = "domain") -> list[str]:
    """Row names that ``metrics`` yield under ``extractor`` (what ``eval.best_metric`` may name)."""
    rows = [r for m in metrics for r in rows_of(m)]
    return [fd_row(extractor) if r == "fid" else r for r in rows]


def yields(metrics: list[str], row_name: str, extractor: str = "domain") -> bool:
    """Whether ``metrics`` produce ``row_name`` (exactly, or as a member of a family)."""
    family = row_name.split("/", 1)[0]
    rows = computed_rows(metrics, extractor)
    return row_name in rows or ("/" in row_name and family in rows)


def calc_metric(name: str, ctx: object) -> list[dict]:
    """The rows of one declared metric on an ``EvalContext``."""
    if name not in _catalogue():
        raise ValueError(f"unknown metric {name!r}; known: {', '.join(names())}")
    return info(name).compute(ctx)
