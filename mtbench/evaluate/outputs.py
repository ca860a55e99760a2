"""Which generator outputs evaluation scores, and the checks that catch a bad choice early.

An output ``k`` (besides ``image``) is scored when the data set has a real image target of
the same name and shape (``mnist_tasks``: ``image_2x``, ``edges``, ``inverted``).
``eval.outputs`` chooses them; by default every such output of the generator. Torch-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mtbench.api import DataInfo

PRIMARY_OUTPUT = "image"  # scored by the plain rows (fid, kid, ...), never as fid/image
# Row families that exist once per scored output (``fid/edges``); best_metric may name them.
PER_OUTPUT_ROWS = (
    "fid",
    "kid",
    "precision",
    "recall",
    "f_score",
    "density",
    "coverage",
    "accuracy",
    "consistency",
    "consistency_psnr",
    "real_consistency",
    "real_consistency_psnr",
)

PER_OUTPUT_ONLY = ("consistency",)  # spec metrics whose rows exist per output only


def image_targets(info: DataInfo) -> dict[str, tuple[int, int, int]]:
    """The data set's real image targets: name -> (C, H, W)."""
    return {k: t.shape for k, t in info.targets.items() if t.kind == "image" and t.shape}


def target_problems(chosen: list[str] | None, info: DataInfo) -> list[str]:
    """``eval.outputs`` entries with no real image target in the data set (no generator needed)."""
    if chosen is None:
        return []
    targets = image_targets(info)
    listing = ", ".join(targets) or "none"
    problems = [
        f"eval.outputs: {k!r} has no real target in the data set (its image targets: "
        f"{listing}); remove it from eval.outputs"
        for k in chosen
        if k not in targets and k != PRIMARY_OUTPUT
    ]
    if chosen and info.num_classes == 0:
        problems.append(
            "eval.outputs: per-output metrics use a domain evaluator per target, a classifier "
            "this unlabelled data set cannot train; set eval.outputs to []"
        )
    return problems


def select(
    chosen: list[str] | None, info: DataInfo, outputs: dict[str, tuple] | None
) -> tuple[list[str], list[str]]:
    """(scored outputs, problems) for a generator with ``outputs`` (name -> (C, H, W))."""
    outputs = outputs or {PRIMARY_OUTPUT: None}
    targets = image_targets(info)
    if chosen is None:  # default: every output with a real target of its shape
        if info.num_classes == 0:
            return [], []
        return [k for k, s in outputs.items() if k in targets and tuple(s) == targets[k]], []
    problems = target_problems(chosen, info)
    for k in chosen:
        if k not in targets:
            continue  # "image" (always scored), or said above
        if k not in outputs:
            problems.append(
                f"eval.outputs: the generator has no output {k!r} (its outputs: "
                f"{', '.join(outputs)}); remove it or add it to the generator's outputs"
            )
        elif tuple(outputs[k]) != targets[k]:
            problems.append(
                f"eval.outputs: output {k!r} has shape {tuple(outputs[k])} but its target "
                f"has {targets[k]}; make the generator's output match the target"
            )
    return [k for k in chosen if k != PRIMARY_OUTPUT], problems


def best_problems(best: str | None, scored: list[str], info: DataInfo) -> list[str]:
    """``eval.best_metric`` naming a per-output row of an output that is not scored
    (``accuracy/<x>`` may also name a class target, so only image targets count there)."""
    if best in ("consistency", "consistency_psnr", "real_consistency", "real_consistency_psnr"):
        return [
            f"eval.best_metric: {best!r} exists per output only; name one, e.g. "
            f"'{best}/{scored[0] if scored else '<output>'}'"
        ]
    if not best or "/" not in best:
        return []
    family, member = best.split("/", 1)
    if family not in PER_OUTPUT_ROWS or member in scored:
        return []
    if family == "accuracy" and member not in image_targets(info):
        return []
    return [
        f"eval.best_metric: {best!r} names output {member!r}, which evaluation does not score "
        f"(scored outputs: {', '.join(scored) or 'none'}); name a scored output's row"
    ]
