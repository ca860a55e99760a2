"""Every metric mtbench computes, declared with its facts and the function yielding its rows.

Adding a metric is one ``@metric`` here: the catalogue (``mtbench.evaluate.catalogue``) gives
its facts to spec validation, reports and plots; the function gets the evaluation's
``EvalContext`` (``mtbench.evaluate.context``) and returns rows for ``evals.parquet``. This
module imports no torch, so reading the facts stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mtbench.evaluate.catalogue import Row, fd_row, metric

if TYPE_CHECKING:
    from mtbench.evaluate.context import EvalContext


@metric("fid", (Row("fid", False),), reads_real=True, fidelity=True)
def fid(ctx: EvalContext) -> list[dict]:
    """Fréchet distance of generated vs real features (Heusel et al. 2017); the row is ``fid``
    on Inception and the domain evaluator, ``fd_<network>`` on any other network."""
    return [ctx.row(fd_row(ctx.extractor.label), *ctx.fidelity()["fid"]), *ctx.per_output("fid")]


@metric("kid", (Row("kid", False),), reads_real=True, fidelity=True)
def kid(ctx: EvalContext) -> list[dict]:
    """Kernel inception distance, mean and std over subsets (Bińkowski et al. 2018)."""
    return [ctx.row("kid", *ctx.fidelity()["kid"]), *ctx.per_output("kid")]


PRC_ROWS = (Row("precision", True), Row("recall", True), Row("f_score", True))


@metric("prc", PRC_ROWS, reads_real=True, fidelity=True)
def prc(ctx: EvalContext) -> list[dict]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) and their F-score."""
    vals = ctx.fidelity()
    return [ctx.row(r.name, vals[r.name][0]) for r in PRC_ROWS] + ctx.per_output("prc")


DC_ROWS = (Row("density", True), Row("coverage", True))


@metric("dc", DC_ROWS, reads_real=True, fidelity=True, space="fid")
def dc(ctx: EvalContext) -> list[dict]:
    """Density and coverage with k = 5 on FID's features (Naeem et al. 2020); coverage falls
    when the generator drops parts of the real distribution, which precision cannot see."""
    vals = ctx.fidelity()
    return [ctx.row(r.name, vals[r.name][0]) for r in DC_ROWS] + ctx.per_output("dc")


@metric("intra_fid", (Row("intra_fid", False, members_headline=False),), reads_real=True)
def intra_fid(ctx: EvalContext) -> list[dict]:
    """FID of each class's fakes vs that class's reals (cached per class), and their mean."""
    rows = []
    for k in range(ctx.info.num_classes):
        value, n_real, n_fake = ctx.class_fid(k)
        rows.append(ctx.row(f"intra_fid/{ctx.class_name(k)}", value, n_real=n_real, n_fake=n_fake))
    mean = sum(r["value"] for r in rows) / len(rows)
    return [ctx.row("intra_fid", mean), *rows]


@metric("isc", (Row("isc", True),), reads_real=False, fidelity=True)
def isc(ctx: EvalContext) -> list[dict]:
    """Inception score of the generated images (Salimans et al. 2016)."""
    return [ctx.row("isc", *ctx.fidelity()["isc"], n_real=0)]


@metric("accuracy", (Row("accuracy", True), Row("mae", False)), reads_real=False)
def accuracy(ctx: EvalContext) -> list[dict]:
    """Conditional accuracy of the generated images under the domain evaluator (no reals):
    ``accuracy`` and ``accuracy/<target>``, and ``mae/<target>`` for continuous conditions."""
    d = ctx.domain
    return [
        ctx.row(k, v, feature_extractor="domain", extractor_hash=d.hash, n_real=0)
        for k, v in ctx.accuracies().items()
    ] + ctx.per_output("accuracy")


CONSISTENCY_ROWS = (
    Row("consistency", False),
    Row("consistency_psnr", True),
    Row("real_consistency", False, headline=False, members_headline=False),
    Row("real_consistency_psnr", True, headline=False, members_headline=False),
)


@metric("consistency", CONSISTENCY_ROWS, reads_real=True)
def consistency(ctx: EvalContext) -> list[dict]:
    """Cross-task consistency of each scored output ``k`` (``mtbench.evaluate.consistency``):
    MAE and PSNR of output ``k`` vs the data set's ``derive(generated image, k)``, and the
    same of real targets vs ``derive(real image, k)`` as the floor; NaN with a ``reason``
    where the data set declares no derivation."""
    return ctx.per_output("consistency")
